"""Plausibility checks: each rule fires on a crafted case, none on the embedded dataset; --strict; manifest."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import finsupport as fs
from finsupport.cli import main
from finsupport.measure.plausibility import Finding, check_plausibility, findings_frame

AMOUNTS = {"financials": ["revenue", "total_assets", "total_liabilities", "interest_bearing_debt", "interest_expense",
                          "rd_expense", "main_business_revenue", "net_profit"],
           "grants": ["amount"], "equity": ["amount"]}


def _example(**scale) -> fs.Dataset:
    """The embedded dataset with the amount columns of some tables divided by ``scale[table]``."""
    d = fs.load_example()
    tables = d.tables()
    for t, k in scale.items():
        tables[t] = tables[t].assign(**{c: tables[t][c] / k for c in AMOUNTS[t] if c in tables[t]})
    return fs.Dataset(**tables)


def _check(data, headline=None):
    flows = fs.support_flows(data)
    return check_plausibility(data, flows, headline)


def _rules(findings):
    return [f.rule for f in findings]


def test_silent_on_the_embedded_dataset():
    data = fs.load_example()
    flows = fs.support_flows(data)
    head = fs.support_share(flows, years=(2016, 2021))
    assert check_plausibility(data, flows, head) == []
    assert check_plausibility(data, flows) == []


@pytest.mark.parametrize("k, factor", [(1e3, 1e3), (1e4, 1e4), (1e8, 1e8)])
def test_unit_mismatch_names_tables_and_factor(k, factor):
    # grants in 千元 / 万元 / 亿元 read as yuan: subsidies k times too small against revenue
    found = [f for f in _check(_example(grants=k)) if f.rule == "unit_mismatch"]
    assert len(found) == 1
    (f,) = found
    assert f.tables == ("grants", "financials") and f.factor == factor
    assert f"10^{int(np.log10(factor))} too small" in f.message


def test_regression_grants_and_equity_in_wan_read_as_yuan_in_memory():
    """Issue regression: subsidies 10,000× too small must be a loud finding naming tables and factor ~1e4."""
    found = _check(_example(grants=1e4, equity=1e4))
    um = {f.tables[0]: f for f in found if f.rule == "unit_mismatch"}
    assert set(um) == {"grants", "equity"}
    assert um["grants"].factor == 1e4 and um["equity"].factor == 1e4
    assert all(f.tables[1] == "financials" for f in um.values())
    assert "万元" in um["grants"].message
    # and the subsidy ratio is below the fixed bound 1e-5: median 0.0375 (embedded) / 1e4 = 3.75e-6
    (cr,) = [f for f in found if f.rule == "component_ratio"]
    assert cr.value == pytest.approx(0.03754850473153688 / 1e4, rel=1e-9)


def test_revenue_in_wan_read_as_yuan_makes_components_too_large():
    found = _check(_example(financials=1e4))
    assert {"component_ratio", "unit_mismatch"} <= set(_rules(found))
    um = [f for f in found if f.rule == "unit_mismatch"]
    assert all(f.factor == 1e4 and "too large" in f.message for f in um)


def test_component_ratio_bounds():
    # every grant 1.0 yuan against revenues of ~10^8: ratio ~1e-8 < 1e-5 (but equity, debt untouched)
    d = fs.load_example()
    tables = d.tables()
    tables["grants"] = tables["grants"].assign(amount=1.0)
    found = _check(fs.Dataset(**tables))
    assert "component_ratio" in _rules(found)
    # equity at 50 times revenue in every round year: above 1
    tables = fs.load_example().tables()
    rev = tables["financials"].set_index(["firm_id", "year"])["revenue"]
    eq = tables["equity"]
    eq = eq.assign(amount=50 * rev.reindex(pd.MultiIndex.from_frame(eq[["firm_id", "year"]])).to_numpy())
    tables["equity"] = eq
    found = [f for f in _check(fs.Dataset(**tables)) if f.rule == "component_ratio"]
    assert [f.tables for f in found] == [("equity", "financials")] and found[0].value > 1


def test_headline_share_zero_nan_and_above_100(make_tiny):
    # zero: no grants, no state equity, no debt benefit
    none = make_tiny(grants=None, equity=None)
    none.financials["interest_expense"] = 100.0  # effective rates far above the benchmark
    f = [x for x in _check(none) if x.rule == "headline_share"]
    assert len(f) == 1 and f[0].value == 0 and "is 0" in f[0].message
    # NaN: the headline table of a selection without revenue
    flows = fs.support_flows(make_tiny())
    head = pd.DataFrame({"component": ["total"], "pooled_share": [np.nan], "n_firms": [0]})
    (h,) = [x for x in check_plausibility(make_tiny(), flows, head) if x.rule == "headline_share"]
    assert "NaN" in h.message and "(0 firms)" in h.message
    # above 100 %: a grant of 10 times the firm's revenue
    big = make_tiny(grants=pd.DataFrame({"firm_id": ["001"], "year": [2016], "amount": [1e5]}))
    (h,) = [x for x in _check(big) if x.rule == "headline_share"]
    assert h.value > 1 and "above 100 %" in h.message


def test_headline_accepts_a_number_and_a_dict(make_tiny):
    data = make_tiny()
    flows = fs.support_flows(data)
    assert "headline_share" in _rules(check_plausibility(data, flows, 1.5))
    assert "headline_share" in _rules(check_plausibility(data, flows, {"pooled_share": 0.0, "n_firms": 2}))
    assert "headline_share" not in _rules(check_plausibility(data, flows, {"pooled_share": 0.05, "n_firms": 2}))


def test_certified_firms_out_of_the_sample():
    d = fs.load_example()
    lg = d.designations.loc[d.designations["tier"] == "little_giant", "firm_id"].unique()[:2]
    tables = d.tables()
    tables["financials"] = tables["financials"][~tables["financials"]["firm_id"].isin(lg)]
    data = fs.Dataset(**tables)
    (f,) = [x for x in _check(data) if x.rule == "certified_excluded"]
    assert set(f.firms) == set(lg) and f.message.startswith("2 certified firm(s) fell out of the sample")
    # a designation row excluded on reading (e.g. an unpadded code) names its firm and the reason
    data = fs.load_example()
    data.quality.add(stage="validate", table="designations", rows=[7], firm_id=["2001"], year=[2019],
                     issue="firm not in firms table", action="excluded")
    (f,) = [x for x in _check(data) if x.rule == "certified_excluded"]
    assert f.firms == ("2001",) and "firm not in firms table (1)" in f.message


def test_component_zero_everywhere_although_its_table_has_rows(make_tiny):
    # every grant in a year without financials; every equity row private
    g = pd.DataFrame({"firm_id": ["001", "002"], "year": [2030, 2030], "amount": [5.0, 6.0]})
    e = pd.DataFrame({"firm_id": ["001"], "year": [2017], "investor_type": ["民营"], "amount": [9.0]})
    found = [x for x in _check(make_tiny(grants=g, equity=e)) if x.rule == "component_all_zero"]
    assert {x.tables for x in found} == {("grants",), ("equity",)}
    assert any("grants has 2 grant rows with an amount" in x.message for x in found)


def test_a_table_whose_every_row_read_was_excluded(tmp_path):
    """Grants read from a file whose firm codes are all missing: every row is excluded, the subsidy is
    measured as if there were no grants; that is a finding naming the table and the reason, and
    ``--strict`` stops the run. A sample that leaves no row is the user's choice, not a finding."""
    ex = tmp_path / "ex"
    assert main(["example", str(ex)]) == 0
    g = pd.read_csv(ex / "grants.csv", dtype=str)
    n = len(g)
    g.assign(firm_id="").to_csv(ex / "grants.csv", index=False)
    data = fs.read_dataset(ex)
    found = [f for f in _check(data) if f.rule == "table_all_excluded"]
    assert len(found) == 1 and found[0].tables == ("grants",) and found[0].value == n
    assert f"all {n} rows read from grants were excluded (missing firm_id ({n}))" in found[0].message
    assert main(["run", str(ex / "config.toml"), "--strict", "--quiet", "--out", str(tmp_path / "out")]) == 2
    data.quality.add(stage="sample", table="grants", issue="outside the configured sample", action="excluded",
                     rows=[2])
    assert not [f for f in _check(data) if f.rule == "table_all_excluded"]


def test_unknown_investor_types_are_a_finding(make_tiny):
    e = pd.DataFrame({"firm_id": ["001", "001"], "year": [2017, 2017], "investor_type": ["guidance_fund", "其他"],
                      "amount": [9.0, 3.0]})
    (f,) = [x for x in _check(make_tiny(equity=e)) if x.rule == "investor_type_unknown"]
    assert "'其他' (1)" in f.message and f.firms == ("001",)


def test_findings_as_json_and_frame():
    f = Finding("unit_mismatch", "m", tables=("grants", "financials"), factor=1e4, firms=("1",), value=float("nan"))
    d = f.as_dict()
    assert json.loads(json.dumps(d)) == {"rule": "unit_mismatch", "message": "m", "tables": ["grants", "financials"],
                                         "factor": 10000.0, "firms": ["1"], "value": None, "severity": "warning"}
    fr = findings_frame([f])
    assert list(fr.columns) == ["rule", "severity", "message", "tables", "factor", "n_firms", "firms", "value"]
    assert fr.loc[0, "tables"] == "grants, financials" and fr.loc[0, "n_firms"] == 1
    assert findings_frame([]).empty


# --- the command line: the issue's case end to end ------------------------------------------------------------

@pytest.fixture
def wan_folder(tmp_path) -> Path:
    """The example written with every amount in 万元, and a config converting only financials (the issue's case)."""
    ex = tmp_path / "ex"
    assert main(["example", str(ex)]) == 0
    for t, cols in AMOUNTS.items():
        p = ex / f"{t}.csv"
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        for c in cols:
            if c in df:
                v = pd.to_numeric(df[c].replace("", np.nan)) / 1e4
                df[c] = v.map(lambda x: "" if np.isnan(x) else repr(float(x)))
        df.to_csv(p, index=False)
    cfg = (ex / "config.toml").read_text(encoding="utf-8")
    cfg = cfg.replace("units = {}", 'units = { financials = "wan" }').replace("enabled = true", "enabled = false", 1)
    (ex / "config.toml").write_text(cfg, encoding="utf-8")
    return ex


def test_regression_wan_tables_with_financials_converted_only(wan_folder, capsys):
    """Issue regression: `units = { financials = "wan" }` left grants and equity in 万元 read as yuan."""
    assert main(["run", str(wan_folder / "config.toml"), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "plausibility checks: 3 warning(s)" in cap.out
    assert "warning (unit_mismatch): subsidy: grants amounts look 10^4 too small" in cap.err
    assert "financials were converted on reading by ×10,000, grants by ×1" in cap.err
    manifest = json.loads((wan_folder / "reports" / "robotics44" / "manifest.json").read_text(encoding="utf-8"))
    um = [f for f in manifest["plausibility"] if f["rule"] == "unit_mismatch"]
    assert [(f["tables"], f["factor"]) for f in um] == [(["grants", "financials"], 1e4), (["equity", "financials"], 1e4)]
    # the workbook: right under the headline sentence, on the Data quality sheet, on the Manifest sheet
    wb = load_workbook(wan_folder / "reports" / "robotics44.xlsx", read_only=True)
    head = [row for row in wb["Headline"].iter_rows(values_only=True) if row and row[0]]
    keys = [r[0] for r in head]
    at = max(i for i, k in enumerate(keys) if k == "Headline")  # the first "Headline" is the title
    assert keys[at + 1] == "Plausibility checks" and str(head[at + 1][1]).startswith("3 WARNING(S)")
    assert keys[at + 2: at + 5] == ["Warning (component_ratio)", "Warning (unit_mismatch)", "Warning (unit_mismatch)"]
    quality = [c for row in wb["Data quality"].iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "Plausibility checks: 3 warning(s)" in quality and "unit_mismatch" in quality
    manifest_rows = {row[0]: row[1] for row in wb["Manifest"].iter_rows(values_only=True) if row and row[0]}
    assert manifest_rows["plausibility.2. unit_mismatch"].startswith("subsidy: grants amounts look 10^4 too small")


def test_strict_makes_a_finding_a_data_error_before_writing(wan_folder, capsys):
    rc = main(["run", str(wan_folder / "config.toml"), "--quiet", "--strict"])
    err = capsys.readouterr().err
    assert rc == 2 and "data error" in err and "plausibility check 'unit_mismatch'" in err
    assert not (wan_folder / "reports").exists()
    with pytest.raises(fs.DataError, match="unit_mismatch"):
        fs.run(wan_folder / "config.toml", strict=True, progress=False)


@pytest.mark.parametrize("seed, subsidy_level, equity_rate", [(0, 0.005, 0.05), (1, 0.03, 0.12), (2, 0.10, 0.3)])
def test_silent_on_simulated_panels_of_different_support_levels(seed, subsidy_level, equity_rate):
    """No false alarm across subsidy levels of 0.5–10 % of revenue (the rules are about orders of magnitude)."""
    data = fs.simulate(n_firms=300, seed=seed, subsidy_level=subsidy_level, equity_rate=equity_rate)
    assert _check(data) == []
