"""The report's fast paths give what the plain pandas/Python computations give.

Column widths measured on whole numeric arrays (``numbers_width``) against
``value_width`` of every value; per-firm groupings on firm codes (``_firm_codes``,
``_firm_max``, ``_firm_shares``, ``_flows_summary``, the Designations block,
``quality_summary``) against ``groupby`` on the text ids, with missing ids and a
firm order that is not sorted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from finsupport.report import build
from finsupport.report.formats import KINDS, numbers_width, value_width


def _slow_width(values: np.ndarray, kind) -> int:
    return max([0, *(value_width(v, kind) for v in values.tolist())])


@settings(max_examples=300, deadline=None)
@given(values=hnp.arrays(np.float64, st.integers(0, 30),
                         elements=st.floats(allow_nan=True, allow_infinity=True, width=64)
                         | st.sampled_from([0.0, -0.0, 0.4999, -0.4999, 0.5, -0.5, 999.5, -999.5, 0.005, -0.005])),
       kind=st.sampled_from([None, *KINDS]))
def test_numbers_width_floats_match_value_width(values, kind):
    assert numbers_width(values, kind) == _slow_width(values, kind)


@settings(max_examples=200, deadline=None)
@given(values=hnp.arrays(st.sampled_from([np.int64, np.int32, np.uint64]), st.integers(0, 30),
                         elements=st.integers(0, 2**31 - 1)),
       negative=st.booleans(), kind=st.sampled_from([None, *KINDS]))
def test_numbers_width_integers_match_value_width(values, negative, kind):
    if negative and values.dtype.kind == "i":
        values = -values
    assert numbers_width(values, kind) == _slow_width(values, kind)


@pytest.mark.parametrize(("values", "kind", "width"), [
    # hand-checked: "-0" (2) is wider than "0" (1), though -0.0 is neither the smallest nor the largest
    (np.array([0.0, -0.0, 0.3]), "yuan", 2),
    # a cohort of 0 is shown in words ("never certified": 15 characters)
    (np.array([2019, 0, 2021]), "cohort", 15),
    # 1234567.5 → "1,234,568" (9); -12.5 → "-12" (3)
    (np.array([1234567.5, -12.5]), "int", 9),
    # 0.1234 as a percentage "12.34%" (6); NaN is 4 wide
    (np.array([0.1234, np.nan]), "pct", 6),
    (np.array([], dtype=float), "pct", 0),
    # 1.0 → "100.00%" (7); 1.7e307 × 100 overflows to inf → "inf%" (4): the largest is not the widest
    (np.array([1.0, 1.7e307, 0.0]), "pct", 7),
])
def test_numbers_width_cases(values, kind, width):
    assert numbers_width(values, kind) == width == _slow_width(values, kind)


def _ids(n_firms: int, years: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    firms = np.array([f"{i:06d}" for i in rng.permutation(n_firms)])   # not in sorted order
    df = pd.DataFrame({"firm_id": pd.array(np.repeat(firms, years), dtype="string"),
                       "year": np.tile(np.arange(2015, 2015 + years), n_firms)})
    df.loc[[3, 17], "firm_id"] = pd.NA   # rows without a firm belong to no group
    return df


@pytest.mark.parametrize("dtype", ["string", "object"])
def test_firm_max_matches_groupby(dtype):
    df = _ids(50, 6).astype({"firm_id": dtype})
    rng = np.random.default_rng(0)
    df["cohort"] = rng.choice([0, 2017, 2019], len(df))
    got = build._firm_max(df["cohort"], build._firm_codes(df["firm_id"]))
    want = df.groupby("firm_id")["cohort"].max()
    assert len(got) == 50 and got.index.name == "firm_id"
    pd.testing.assert_series_equal(got.sort_index(), want, check_index_type=False)
    codes, firms = build._firm_codes(df["firm_id"])
    assert (codes[[3, 17]] == -1).all() and len(firms) == df["firm_id"].nunique()


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.sampled_from(["a", "b", "B", "c", "10", "9", "é", "", None]), min_size=0, max_size=30),
       sort=st.booleans(), dtype=st.sampled_from(["string[pyarrow]", "object", "str"]))
def test_firm_codes_match_factorize(ids, sort, dtype):
    # sorted pyarrow text is counted along the rows instead of hashed: the same codes and firms
    # as pandas.factorize, whatever the order, missing ids, one row or none, text codes
    if sort:
        ids = sorted(ids, key=lambda v: (v is None, v or ""))
    s = pd.Series(ids, dtype=dtype, name="firm_id")
    codes, firms = build._firm_codes(s)
    want_codes, want_firms = pd.factorize(s)
    np.testing.assert_array_equal(codes, want_codes)
    pd.testing.assert_index_equal(firms, pd.Index(want_firms, name="firm_id"))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", None]), st.integers(-5, 2030)), max_size=30),
       sort=st.booleans(), dtype=st.sampled_from(["int64", "int16", "uint16", "float64"]))
def test_firm_max_of_sorted_codes_matches_groupby(rows, sort, dtype):
    # the maximum of each run of sorted codes = groupby max on the codes: integers of several widths, floats
    # (grouped as before), rows without a firm, unsorted rows
    if sort:
        rows = sorted(rows, key=lambda r: (r[0] is None, r[0] or ""))
    ids = pd.Series([r[0] for r in rows], dtype="string[pyarrow]", name="firm_id")
    vals = np.array([r[1] for r in rows], dtype=np.int64)
    if dtype == "uint16":
        vals = np.abs(vals)
    values = pd.Series(vals.astype(dtype), name="cohort")
    codes = build._firm_codes(ids)
    got = build._firm_max(values, codes)
    c, firms = codes
    keep = c >= 0
    m = pd.Series(values.to_numpy()[keep]).groupby(c[keep], sort=True).max()
    want = pd.Series(m.to_numpy(), index=firms.take(m.index.to_numpy()), name="cohort")
    pd.testing.assert_series_equal(got, want)


class _Result:
    """The parts of a run's result that the per-firm helpers read."""

    def __init__(self, flows, status, years):
        self.flows, self.status = flows, status
        self.config = {"shares": {"years": years, "headline_cohorts": [2017]}, "sample": {"tier": "little_giant"}}
        self.headline = {"firms": "firms first certified in 2017"}
        self.panel = None


def _run_like():
    flows = _ids(40, 5)
    rng = np.random.default_rng(1)
    flows["revenue"] = rng.lognormal(10, 1, len(flows))
    flows.loc[[5, 6], "revenue"] = 0.0            # left out of the shares: no revenue
    flows["total"] = rng.lognormal(6, 1, len(flows))
    flows.loc[8, "total"] = np.nan                 # skipped in the sums, as groupby's sum skips it
    flows["subsidy"] = flows["total"] / 2
    status = flows[["firm_id", "year"]].copy()
    status["cohort"] = np.where(np.arange(len(status)) % 3 == 0, 2017, 0)
    status["active"] = status["cohort"] > 0
    status["years_since"] = pd.array(np.where(status["active"], status["year"] - 2017, pd.NA), dtype="Int64")
    return _Result(flows, status, [2016, 2018])


def test_firm_shares_and_cohorts_match_groupby():
    res = _run_like()
    who = build._Who.__new__(build._Who)
    who.flow_codes = build._firm_codes(res.flows["firm_id"])
    who.status_codes = build._firm_codes(res.status["firm_id"])
    who.cohort = build._firm_max(res.status["cohort"], who.status_codes)
    share, head, _, _ = build._firm_shares(res, who)
    f = res.flows[(res.flows["year"] >= 2016) & (res.flows["year"] <= 2018) & (res.flows["revenue"] > 0)]
    g = f.groupby("firm_id")[["total", "revenue"]].sum()
    want = g["total"] / g["revenue"]
    pd.testing.assert_series_equal(share.sort_index(), want, check_names=False, check_index_type=False)
    coh = res.status.groupby("firm_id")["cohort"].max()
    assert head.sort_index().tolist() == coh.reindex(want.index).isin([2017]).tolist()

    # the Designations block: firms, awards in force and new awards by year
    who.tier = "little giant"
    res.data = type("D", (), {"designations": pd.DataFrame({"firm_id": ["a"], "year": [2017]})})()
    block = build._designations(res, who).blocks[0][1]
    s = res.status
    want = s.groupby("year").agg(firms=("firm_id", "nunique"), in_force=("active", "sum"),
                                 newly_designated=("years_since", lambda x: int((x == 0).sum()))).reset_index()
    pd.testing.assert_frame_equal(block, want)


def test_flows_summary_with_and_without_codes():
    flows = _run_like().flows
    g = flows.groupby("year", sort=True)
    amounts = ["revenue", "total", "subsidy"]
    want = pd.concat([g.size().rename("firm_years"), g["firm_id"].nunique().rename("firms"), g[amounts].sum()],
                     axis=1).reset_index()
    got = build._flows_summary(flows)
    pd.testing.assert_frame_equal(got[want.columns], want)
    pd.testing.assert_frame_equal(build._flows_summary(flows, build._firm_codes(flows["firm_id"])), got)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["b", "a", "c", "10", None]), st.sampled_from([2019.0, 2018.0, np.nan]),
                               st.floats(-1e6, 1e6)), min_size=1, max_size=30),
       dtype=st.sampled_from(["string[pyarrow]", "object"]))
def test_flows_summary_matches_groupby(rows, dtype):
    # firms per year counted on codes = groupby nunique: rows in any order, a firm-year twice, missing ids
    # and years (a row without a year is in no year's line), one row
    firm, year, amount = map(list, zip(*rows, strict=True))
    flows = pd.DataFrame({"firm_id": pd.Series(firm, dtype=dtype), "year": year, "revenue": amount})
    g = flows.groupby("year", sort=True)
    want = pd.concat([g.size().rename("firm_years"), g["firm_id"].nunique().rename("firms"),
                      g[["revenue"]].sum()], axis=1).reset_index()
    pd.testing.assert_frame_equal(build._flows_summary(flows), want)


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 6)), max_size=40), sparse=st.booleans())
def test_distinct_firsts_match_groupby(pairs, sparse):
    # distinct values per group (-1 missing, not counted) and the rows of the first three, whether counted
    # on a table of every cell or by sorting (codes far apart)
    group = np.array([p[0] for p in pairs], dtype=np.int64)
    codes = np.array([p[1] for p in pairs], dtype=np.int64)
    if sparse:
        codes = np.where(codes >= 0, codes * 10_000, -1)
    counts, _ = build._distinct_firsts(group, codes, 4)
    counts3, firsts = build._distinct_firsts(group, codes, 4, keep=3)
    s = pd.Series(np.where(codes >= 0, codes, np.nan))
    want = s.groupby(group).nunique().reindex(range(4), fill_value=0).to_numpy()
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(counts3, want)
    for gi in range(4):
        rows = [i for i in range(len(pairs)) if group[i] == gi and codes[i] >= 0]
        seen, want_rows = set(), []
        for i in rows:
            if codes[i] not in seen:
                seen.add(codes[i])
                want_rows.append(i)
        assert firsts[gi] == want_rows[:3]


def test_quality_summary_examples_per_rule():
    # two rules; the first has four distinct firm-years (examples cut at three, then "…")
    log = pd.DataFrame({
        "stage": ["read"] * 5 + ["measure"] * 2, "table": ["firms"] * 5 + ["flows"] * 2,
        "column": ["x"] * 7, "issue": ["bad"] * 5 + ["odd"] * 2, "action": ["excluded"] * 5 + ["flagged"] * 2,
        "firm_id": ["b", "a", "a", "c", "d", None, "e"], "year": [2020, 2019, 2019, 2021, 2018, 2020, None],
        "row": range(7), "detail": [""] * 7})
    out = build.quality_summary(log).set_index("issue")
    assert out.loc["bad", "examples"] == "b 2020, a 2019, c 2021, …"
    assert out.loc["bad", "rows"] == 5 and out.loc["bad", "n_firms_affected"] == 4
    assert out.loc["odd", "examples"] == "? 2020, e"
    assert out.loc["odd", "n_firms_affected"] == 1
    assert out["changes_numbers"].tolist() == ["yes", "no"]


def _quality_summary_by_groupby(log: pd.DataFrame) -> pd.DataFrame:
    """quality_summary as it was written with pandas' groupby (a function called on every rule's rows)."""
    keys = ["stage", "table", "column", "issue", "action"]
    log = log.assign(**{k: log[k].astype("string").fillna("") for k in keys})
    g = log.groupby(keys, sort=True, dropna=False)
    out = g.size().rename("rows").to_frame()
    out["n_firms_affected"] = g["firm_id"].nunique()
    ex = log["firm_id"].astype("string").fillna("?") + (
        " " + log["year"].astype("Int64").astype("string")).fillna("")
    out["examples"] = ex.groupby(g.ngroup().to_numpy(), sort=True).agg(
        lambda s: ", ".join(pd.unique(s.dropna())[:3]) + (", …" if s.nunique() > 3 else "")).array
    out = out.reset_index()
    act = out["action"].str.lower()
    changes = act.apply(lambda a: any(w in a for w in build._CHANGES)) & ~act.str.contains("flag")
    out.insert(0, "changes_numbers", np.where(changes, "yes", "no"))
    out = out.sort_values(["changes_numbers", "rows"], ascending=[False, False], kind="stable")
    return out.reset_index(drop=True)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["read", "measure"]), st.sampled_from(["bad", "odd", None]),
                               st.sampled_from(["excluded", "flagged", "repaired"]),
                               st.sampled_from(["a", "b", "c", "d", "e", "?", "a 2020", None]),
                               st.sampled_from([2018, 2019, 2020, None])), min_size=1, max_size=40),
       dtype=st.sampled_from(["string[pyarrow]", "object"]))
def test_quality_summary_matches_groupby(rows, dtype):
    # counts and examples on codes = nunique and the first distinct values per rule with groupby: missing
    # firms and years, ids that read like another firm-year ("a 2020" without a year), rules in any order
    stage, issue, action, firm, year = map(list, zip(*rows, strict=True))
    log = pd.DataFrame({"stage": stage, "table": "firms", "column": "x", "issue": issue, "action": action,
                        "firm_id": pd.Series(firm, dtype=dtype), "year": pd.array(year, dtype="Int64"),
                        "row": range(len(rows)), "detail": ""})
    pd.testing.assert_frame_equal(build.quality_summary(log), _quality_summary_by_groupby(log))


@settings(max_examples=40, deadline=None)
@given(blocks=st.lists(st.tuples(st.sampled_from(["bad", "odd", "gap"]), st.integers(1, 700), st.integers(0, 5),
                                 st.booleans()), min_size=1, max_size=5),
       dtype=st.sampled_from(["string[pyarrow]", "object"]))
def test_quality_summary_of_long_checks_matches_groupby(blocks, dtype):
    # checks adding their rows together (runs of one rule, a rule in several runs), one firm-year repeated for
    # hundreds of rows before the next distinct ones appear (the examples are not among the first rows), up to
    # five distinct firm-years per run, missing firms
    frames = []
    for issue, n, distinct, missing in blocks:
        firm = ["a"] * n
        for j in range(min(distinct, n)):   # the last rows bring the other firm-years
            firm[n - 1 - j] = f"f{j}"
        if missing:
            firm[n // 2] = None
        frames.append(pd.DataFrame({"stage": "measure", "table": "financials", "column": "x", "issue": issue,
                                    "action": "flagged" if issue == "odd" else "excluded", "firm_id": firm,
                                    "year": 2020}))
    log = pd.concat(frames, ignore_index=True).astype({"firm_id": dtype, "year": "Int64"})
    log["row"], log["detail"] = range(len(log)), ""
    pd.testing.assert_frame_equal(build.quality_summary(log), _quality_summary_by_groupby(log))


# --------------------------------------------------------------------------- the data-quality log written early

SMALL = {"analysis": {"enabled": False}, "output": {"figures": [], "progress": False},
         "report": {"max_sheet_rows": 500}}


def _report_with_early_details(tmp_path, *, add_record: bool):
    from concurrent.futures import ThreadPoolExecutor

    import finsupport as fs

    res = fs.prepare(SMALL)
    folder = tmp_path / "early"
    with ThreadPoolExecutor(max_workers=1) as pool:
        early = build.start_early_details(res, folder, pool)
        for job in early.values():
            job.result()
        written = folder / "data_quality.parquet"
        assert written in early and written.exists()   # begun before the report
        if add_record:   # a record added after the early write: the file must hold it too
            res.data.quality.add(stage="test", table="firms", rows=[0], issue="added late", action="flagged",
                                 detail="after the early write")
        report = build.build_report(res, folder=folder)
        build.write_outputs(res, report, workbook=tmp_path / "early.xlsx", folder=folder, run_time="t",
                            early=early)
    return res, written


@pytest.mark.parametrize("add_record", [False, True])
def test_quality_log_written_early_is_the_final_log(tmp_path, add_record):
    from finsupport.report.detail import write_detail

    res, written = _report_with_early_details(tmp_path, add_record=add_record)
    log = res.data.quality.to_frame()
    assert res.outputs["data_quality"] == written
    back = pd.read_parquet(written)
    assert len(back) == len(log)
    assert ("added late" in set(back["issue"])) == add_record
    # the same bytes as the log written with the workbook
    late = write_detail(log, tmp_path / "late.parquet", "parquet")
    assert written.read_bytes() == late.read_bytes()


# --------------------------------------------------------------------------- rows packed from their row file

def _large_report():
    from finsupport.report import Report, Sheet

    rng = np.random.default_rng(5)
    n = 30_000   # several MB of sheet XML: more than one read of every buffer
    t = pd.DataFrame({"firm_id": [f"{i:06d}" for i in range(n)], "x": rng.normal(size=n),
                      "flag": rng.random(n) < 0.5, "name": "a & b"})
    return Report([Sheet("Big", t, title="big", formats={"x": "coef"}),
                   Sheet("Small", pd.DataFrame({"a": [1, 2]}), title="small")], title="t")


@pytest.mark.parametrize("byte_copy", [True, False])
def test_rows_packed_from_their_file_give_the_same_bytes(tmp_path, monkeypatch, byte_copy):
    from finsupport.report import workbook as wbm

    rep = _large_report()
    spliced = wbm.write_workbook(rep, tmp_path / "a.xlsx")
    monkeypatch.setattr(wbm, "SPLICE", False)            # rows copied into the sheet's XML file first
    monkeypatch.setattr(wbm, "BYTE_COPY", byte_copy)     # ... as bytes, or by XlsxWriter as text
    copied = wbm.write_workbook(rep, tmp_path / "b.xlsx")
    assert spliced.read_bytes() == copied.read_bytes()
    assert not wbm._SPLICES
    import openpyxl

    ws = openpyxl.load_workbook(spliced, read_only=True)["Big"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[-1][0] == "029999" and rows[-1][3] == "a & b"


def test_a_failed_close_leaves_no_row_file(tmp_path, monkeypatch):
    import zipfile

    from finsupport.report import workbook as wbm

    row_files = []
    record = wbm._copy_rows_as_bytes
    monkeypatch.setattr(wbm, "_copy_rows_as_bytes", lambda ws: (row_files.append(ws.row_data_filename), record(ws)))

    def broken(self, *a, **k):
        raise OSError("disk full")

    # packing the first spliced sheet fails: every row file must still be removed
    monkeypatch.setattr(zipfile.ZipFile, "open", broken)
    with pytest.raises(Exception, match="disk full"):
        wbm.write_workbook(_large_report(), tmp_path / "c.xlsx")
    assert len(row_files) == 2 and not any(Path(f).exists() for f in row_files)
    assert not wbm._SPLICES
    assert not (tmp_path / "c.xlsx").exists()


# --------------------------------------------------------------------------- effect figures handed over per outcome

def test_each_outcomes_figures_go_to_the_figure_process_before_the_next_outcome_is_estimated(tmp_path, monkeypatch):
    import finsupport as fs
    from finsupport.estimate import event_study as es_module
    from finsupport.report import figure_worker

    monkeypatch.delenv("FINSUPPORT_FIGURES_INLINE", raising=False)
    log: list[str] = []
    submit, estimate = figure_worker.FigureWorker.submit, es_module.event_study

    def spy_submit(self, jobs, folder, formats, *, more=False):
        log.extend(f"figure {j.stem}" for j in jobs)
        return submit(self, jobs, folder, formats, more=more)

    def spy_estimate(d, *, outcome, **k):
        log.append(f"estimate {outcome}")
        return estimate(d, outcome=outcome, **k)

    monkeypatch.setattr(figure_worker.FigureWorker, "submit", spy_submit)
    monkeypatch.setattr(es_module, "event_study", spy_estimate)
    cfg = {"output": {"figures": ["png"], "progress": False},
           "analysis": {"outcomes": ["share", "subsidy_share"], "estimators": ["event_study", "att_gt"],
                        "bootstrap": 0}}
    r = fs.run(cfg, out=tmp_path / "r.xlsx")
    if not any(x.startswith("figure ") for x in log):
        pytest.skip("no figure process on this machine")
    assert log.index("figure event_study_share") < log.index("estimate subsidy_share")
    assert log.index("figure att_gt_share") < log.index("estimate subsidy_share")
    assert log.index("figure att_dynamic_share") < log.index("estimate subsidy_share")
    # each figure drawn once, every one of them written
    figs = [x for x in log if x.startswith("figure ")]
    assert len(figs) == len(set(figs))
    for stem in ("event_study_share", "att_gt_share", "att_dynamic_share", "event_study_subsidy_share",
                 "att_gt_subsidy_share", "att_dynamic_subsidy_share"):
        assert r.outputs[f"{stem}_png"].exists(), stem


def test_a_run_without_figure_files_draws_no_figure(tmp_path, monkeypatch):
    import finsupport as fs
    from finsupport.report import figures

    def no(*a, **k):
        raise AssertionError("a figure was drawn although no figure file was asked for")

    for name in ("support_over_time", "share_distribution", "audit_failures", "effect_profile", "effects_by_cohort"):
        monkeypatch.setattr(figures, name, no)
    r = fs.run({"output": {"figures": [], "progress": False},
                "analysis": {"estimators": ["event_study", "att_gt"], "bootstrap": 0}}, out=tmp_path / "r.xlsx")
    assert r.outputs["workbook"].exists() and not list((tmp_path / "r").glob("*.png"))


def test_writing_a_detail_file_leaves_its_table_as_it_was(tmp_path):
    from finsupport.report.detail import write_detail

    t = pd.DataFrame({"row": pd.Series([1, 2, None], dtype=object), "firm_id": pd.Series(["a", None, "c"], dtype=object),
                      "mixed": pd.Series([1, "x", 2.5], dtype=object), "v": [1.0, 2.0, 3.0]})
    before = t.copy(deep=True)
    write_detail(t, tmp_path / "t.parquet", "parquet")
    pd.testing.assert_frame_equal(t, before)
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["row"].tolist()[:2] == [1, 2] and back["mixed"].tolist() == ["1", "x", "2.5"]
