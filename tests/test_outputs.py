"""Outputs that fit their medium: long tables beside the workbook, output paths checked first."""

import importlib
import json
import os

import pandas as pd
import pytest
from openpyxl import load_workbook

import finsupport as fs
from finsupport.cli import main
from finsupport.errors import ConfigError
from finsupport.manifest import file_sha256
from finsupport.report import detail

run_module = importlib.import_module("finsupport.run")   # the module, not the function fs.run

# the embedded example without estimation: 244 firms × 9 years = 2,196 firm-years of flows
SMALL = {"analysis": {"enabled": False}, "output": {"figures": [], "progress": False},
         "report": {"max_sheet_rows": 500}}


def _sheet(path, name):
    wb = load_workbook(path, read_only=True)
    return [r for r in wb[name].iter_rows(values_only=True)]


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "small.xlsx"
    return fs.run(SMALL, out=out)


def test_detail_beyond_the_limit_goes_beside_the_workbook(split_run):
    r = split_run
    wb = r.outputs["workbook"]
    assert wb.exists() and wb.name == "small.xlsx"
    detail = r.outputs["detail_flows"]
    assert detail.parent == wb.with_suffix("") and detail.suffix == ".parquet"
    # every firm-year is in the file, with its values
    back = pd.read_parquet(detail)
    assert len(back) == len(r.flows) > 500
    pd.testing.assert_frame_equal(back, r.flows.reset_index(drop=True), check_dtype=False)
    # the sheet keeps a summary and names the file
    rows = _sheet(wb, "Flows")
    text = " ".join(str(c) for row in rows[:6] for c in row if c is not None)
    assert "small/flows.parquet" in text and f"{len(r.flows):,} rows" in text
    assert len(rows) < 60
    header = next(row for row in rows if row and row[0] == "Year")
    assert "Firm-years" in header and "Total support (yuan)" in header
    # the manifest hashes the workbook, the detail file and the data-quality log
    m = json.loads(r.outputs["manifest"].read_text())
    for key in ("workbook", "detail_flows", "data_quality"):
        assert m["outputs"][key]["sha256"] == file_sha256(r.outputs[key]), key
    assert any("small/flows.parquet" in n for n in r.notes)


def test_full_quality_log_is_written_beside_the_workbook(split_run):
    r = split_run
    log = pd.read_parquet(r.outputs["data_quality"])
    assert len(log) == len(r.data.quality.to_frame())
    assert list(log.columns) == list(r.data.quality.to_frame().columns)


def test_short_tables_stay_on_their_sheets(tmp_path):
    r = fs.run({**SMALL, "report": {"max_sheet_rows": 100_000}}, out=tmp_path / "full.xlsx")
    assert not [k for k in r.outputs if k.startswith("detail_")]
    rows = _sheet(r.outputs["workbook"], "Flows")
    assert len(rows) > len(r.flows)
    assert r.outputs["data_quality"].exists()   # the full log is beside the workbook in any case


def test_csv_when_asked_or_when_pyarrow_is_missing(tmp_path, monkeypatch):
    r = fs.run({**SMALL, "report": {"max_sheet_rows": 500, "detail_format": "csv"}}, out=tmp_path / "a.xlsx")
    assert r.outputs["detail_flows"].suffix == ".csv"
    back = pd.read_csv(r.outputs["detail_flows"], dtype={"firm_id": str})
    assert len(back) == len(r.flows) and back["firm_id"].iloc[0] == r.flows["firm_id"].iloc[0]
    monkeypatch.setattr(detail, "pyarrow_available", lambda: False)   # as where pyarrow is not installed
    r2 = fs.run(SMALL, out=tmp_path / "b.xlsx")
    assert r2.outputs["detail_flows"].suffix == ".csv"
    assert any("pyarrow is not installed" in n for n in r2.notes)


@pytest.fixture
def no_computation(monkeypatch):
    """Reading the data fails the test: an output problem must be found before it."""
    def boom(*a, **k):
        raise AssertionError("the run started computing before checking its outputs")
    monkeypatch.setattr(run_module, "_load_data", boom)


def test_out_naming_a_folder_fails_before_any_computation(tmp_path, no_computation, capsys):
    d = tmp_path / "report.xlsx"
    d.mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        fs.run(SMALL, out=d)
    assert main(["run", "--out", str(d), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err and "unexpected" not in err


def test_output_folder_that_is_a_file_fails_first(tmp_path, no_computation):
    (tmp_path / "r.xlsx").parent.mkdir(exist_ok=True)
    (tmp_path / "r").write_text("a file where the run's folder of figures would go")
    with pytest.raises(ConfigError, match="is a file"):
        fs.run(SMALL, out=tmp_path / "r.xlsx")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        fs.run(SMALL, out=blocker / "sub" / "r.xlsx")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a folder this user cannot write")
def test_unwritable_output_folder_fails_first(tmp_path, no_computation):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write"):
            fs.run(SMALL, out=ro / "r.xlsx")
    finally:
        ro.chmod(0o700)


def test_max_sheet_rows_is_checked_against_excel():
    with pytest.raises(ConfigError, match="report.max_sheet_rows"):
        fs.load_config({"report": {"max_sheet_rows": 2_000_000}})
    with pytest.raises(ConfigError, match="report.detail_format"):
        fs.load_config({"report": {"detail_format": "xlsx"}})


def test_a_folder_that_refuses_files_fails_first(tmp_path, no_computation, monkeypatch):
    """Whatever makes the folder refuse a file (permissions, a read-only disk) is found before computing."""
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(run_module.tempfile, "TemporaryFile", refuse)
    with pytest.raises(ConfigError, match="cannot write the outputs into .*Permission denied"):
        fs.run(SMALL, out=tmp_path / "new" / "r.xlsx")
    assert not (tmp_path / "new").exists()   # the folders made for the check are removed again


def test_a_run_that_fails_after_measuring_leaves_no_detail_file(tmp_path, monkeypatch):
    """The flows file begun while the run estimates is removed when the run then fails."""
    build = importlib.import_module("finsupport.report.build")

    def broken(*a, **k):
        raise RuntimeError("report failed")

    monkeypatch.setattr(build, "build_report", broken)
    out = tmp_path / "failed.xlsx"
    with pytest.raises(RuntimeError, match="report failed"):
        fs.run(SMALL, out=out)
    folder = out.with_suffix("")
    assert not (folder / "flows.parquet").exists()
    assert not folder.exists() or not any(folder.iterdir())


def test_a_run_that_fails_after_its_first_figures_leaves_none(tmp_path, monkeypatch):
    """The descriptive figures are drawn while the run estimates; a failure later removes them."""
    import time

    build = importlib.import_module("finsupport.report.build")
    out = tmp_path / "failed.xlsx"
    folder = out.with_suffix("")

    def broken(*a, **k):
        deadline = time.monotonic() + 60
        while not list(folder.glob("*.png")) and time.monotonic() < deadline:   # a figure is drawn
            time.sleep(0.05)
        raise RuntimeError("report failed")

    monkeypatch.setattr(build, "build_report", broken)
    cfg = {**SMALL, "output": {"figures": ["png"], "progress": False}}
    with pytest.raises(RuntimeError, match="report failed"):
        fs.run(cfg, out=out)
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())
