"""The default run's workbook reads without the code: words, units, formats and populations.

Walks every sheet except Columns and Manifest and fails on a header that is a bare
identifier (``pooled_share``, ``n_obs``), a numeric cell without a number format, or a
sheet without its "Population: …" line; checks that the Columns sheet maps every header
back to its machine name, that effects on shares are in percentage points and cohort 0
reads "never certified", and that the regression tables carry every estimator of the run.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from openpyxl import load_workbook

import finsupport as fs
from finsupport.report.build import quality_summary, scalar_effects
from finsupport.report.labels import COLUMNS, Labeller, format_frame
from finsupport.report.workbook import POPULATION_PREFIX

BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_FILL = "F2F2F2"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("readable")
    return fs.run(None, out=d / "robotics44.xlsx", progress=False)


@pytest.fixture(scope="module")
def book(run):
    return load_workbook(run.report_path)


def _is_header(row) -> bool:
    c = row[0]
    return bool(c.fill is not None and c.fill.fgColor is not None and str(c.fill.fgColor.rgb).endswith(HEADER_FILL))


def _bare(text: str) -> bool:
    """A header a program wrote for itself: snake_case, or a lower-case single word."""
    return bool(BARE.match(text)) and ("_" in text or text.islower())


def test_every_sheet_reads_without_the_code(book):
    problems = []
    for ws in book.worksheets:
        if ws.title in ("Columns", "Manifest"):
            continue
        texts = [c.value for c in ws["A"] if isinstance(c.value, str)]
        if not any(t.startswith(POPULATION_PREFIX) for t in texts[:6]):
            problems.append(f"{ws.title}: no population/period line")
        in_table = False
        for row in ws.iter_rows():
            if _is_header(row):
                in_table = True
                for c in row:
                    if isinstance(c.value, str) and _bare(c.value):
                        problems.append(f"{ws.title}!{c.coordinate}: bare header {c.value!r}")
                continue
            for c in row:
                v = c.value
                if isinstance(v, bool) or not isinstance(v, int | float):
                    continue
                if c.number_format == "General":
                    problems.append(f"{ws.title}!{c.coordinate}: number {v!r} without a number format"
                                    f"{'' if in_table else ' (key/value)'}")
    assert not problems, "\n".join(problems[:40])


def test_the_walker_catches_each_defect(tmp_path):
    """The checks above fail on a workbook with the three defects (so they are not vacuous)."""
    from finsupport.report import Report, Sheet, write_workbook

    bad = Report([Sheet("Bad", pd.DataFrame({"pooled_share": [0.1]}), title="t")])
    wb = load_workbook(write_workbook(bad, tmp_path / "bad.xlsx"))
    ws = wb["Bad"]
    header = next(r for r in ws.iter_rows() if _is_header(r))
    assert _bare(header[0].value)
    cell = next(c for r in ws.iter_rows() if not _is_header(r) for c in r if isinstance(c.value, float))
    assert cell.number_format == "General"
    assert not any(str(c.value).startswith(POPULATION_PREFIX) for c in ws["A"])


def test_columns_sheet_maps_headers_to_machine_names(book):
    rows = list(book["Columns"].iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[:3] == ("Sheet", "Header", "Machine name"))
    cols = pd.DataFrame(rows[head + 1:], columns=rows[head]).dropna(how="all")
    shares = cols[cols["Sheet"] == "Shares"].set_index("Machine name")
    assert shares.loc["pooled_share", "Header"] == "Pooled share (% of revenue)"
    assert shares.loc["amount", "Unit"] == "yuan"
    es = cols[cols["Sheet"] == "Event study (support share)"].set_index("Machine name")
    assert es.loc["estimate", "Unit"] == "percentage points"
    # every labelled header of every sheet is listed
    listed = set(zip(cols["Sheet"], cols["Header"], strict=True))
    for ws in book.worksheets:
        if ws.title in ("Columns", "Manifest", "Regression tables"):
            continue
        for row in ws.iter_rows():
            if _is_header(row):
                for c in row:
                    if c.value is not None:
                        assert (ws.title, c.value) in listed, (ws.title, c.value)


def test_units_and_codes(run, book):
    ws = book["Event study (support share)"]
    rows = list(ws.iter_rows())
    h = next(i for i, r in enumerate(rows) if _is_header(r))
    names = [c.value for c in rows[h]]
    est = names.index("Estimate (percentage points)")
    tidy = run.estimates["share"]["event_study"].tidy().set_index("term")
    first = rows[h + 1]
    term = first[names.index("Term")].value
    # stored ×100: the cell reads 2.23 pp where the estimate is 0.0223
    assert first[est].value == pytest.approx(tidy.loc[term, "estimate"] * 100)
    assert first[est].number_format == '0.00" pp"'
    # cohort 0 reads "never certified" (a number format: the cell stays 0 for programs)
    never = [c for r in book["Firms"].iter_rows() for c in r if c.value == 0 and "never certified" in c.number_format]
    assert never
    head = {r[0]: r[1] for r in book["Headline"].iter_rows() if r[0].value for r in [tuple(r)]}
    key = next(k for k in head if k.value.startswith("Certification effect"))
    att = run.estimates["share"]["aggregates"]["simple"].overall_att
    assert head[key].value == pytest.approx(att * 100) and head[key].number_format == '0.00" pp"'


def test_amount_unit_wan(tiny, tmp_path):
    lab = Labeller("wan")
    out, kinds = lab.frame(pd.DataFrame({"subsidy": [25_000.0], "share": [0.1]}), "t")
    assert list(out.columns) == ["Subsidies (万元, 10,000 yuan)", "Support (% of revenue)"]
    assert out.iloc[0, 0] == 2.5 and kinds["Subsidies (万元, 10,000 yuan)"] == "amount2"


def test_registry_has_new_components():
    assert COLUMNS["tax"].label == "Tax relief" and COLUMNS["land"].label == "Land-price support"
    lab = Labeller()
    out, _ = lab.frame(pd.DataFrame({"tax": [1.0], "land": [2.0]}), "Flows")
    assert list(out.columns) == ["Tax relief (yuan)", "Land-price support (yuan)"]


def test_regression_tables_carry_every_estimator(run):
    effects = scalar_effects(run)
    md = (run.outputs["regressions_md"]).read_text(encoding="utf-8")
    tex = (run.outputs["regressions_tex"]).read_text(encoding="utf-8")
    assert len(effects) >= 5 * 2    # TWFE + four Callaway–Sant'Anna aggregations, two outcomes
    for e in effects:
        assert e["name"] in md
    for row in ("N", "Clusters", "Dep. var. mean", "Standard errors", "Firm and year effects"):
        assert f"| {row} |" in md
        assert f"\n{row} &" in tex
    assert "\\toprule" in tex and "\\bottomrule" in tex
    assert "percentage points" in md
    twfe = run.estimates["share"]["twfe"]
    assert f"{twfe.params['treated'] * 100:.2f}" in md


def test_data_quality_is_aggregated(run, book):
    log = run.data.quality.to_frame()
    summ = quality_summary(log)
    assert summ["rows"].sum() == len(log)
    assert len(summ) < len(log)
    # a rule that changes the figures comes before flags
    fake = pd.DataFrame({"stage": ["measure", "read"], "table": ["financials", "grants"], "column": ["x", "y"],
                         "issue": ["flag", "bad"], "action": ["flagged", "excluded"], "firm_id": ["1", "2"],
                         "year": [2020, 2021], "row": [1, 2], "detail": ["", ""]})
    top = quality_summary(pd.concat([fake.iloc[[0]]] * 5 + [fake.iloc[[1]]]))
    assert top.iloc[0]["action"] == "excluded" and top.iloc[0]["changes_numbers"] == "yes"
    ws = book["Data quality"]
    assert ws.max_row < 40   # one row per rule, not one per record


def test_format_frame_for_notebooks():
    df = pd.DataFrame({"component": ["subsidy"], "pooled_share": [0.0852], "amount": [1234567.0]})
    out = format_frame(df)
    assert list(out.columns) == ["Support component", "Pooled share (% of revenue)", "Support (yuan)"]
    assert out.iloc[0].tolist() == ["subsidy", "8.52%", "1,234,567"]
    eff = format_frame(pd.DataFrame({"term": ["ATT"], "estimate": [0.0268]}), outcome="share")
    assert eff.iloc[0, 1] == "2.68 pp"
    assert df.columns[1] == "pooled_share"   # the API's frame is not changed
