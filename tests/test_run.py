"""End-to-end: the pipeline, its reproducibility and the command line."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

import finsupport as fs
from finsupport.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAST = {"analysis": {"bootstrap": 99}}


def _cells(path: Path) -> dict:
    wb = load_workbook(path, read_only=True)
    return {ws.title: [tuple(c for c in row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The embedded default run twice, into two folders."""
    out = []
    for k in range(2):
        d = tmp_path_factory.mktemp(f"run{k}")
        out.append(fs.run(None, out=d / "robotics44.xlsx", progress=False))
    return out


def test_same_config_same_numbers_and_manifest(two_runs):
    a, b = two_runs
    assert _cells(a.report_path) == _cells(b.report_path)
    ma = json.loads(a.outputs["manifest"].read_text())
    mb = json.loads(b.outputs["manifest"].read_text())
    ma.pop("run_time"), mb.pop("run_time")
    assert ma == mb
    # the workbook is byte-stable, so its hash in the manifest is the same
    assert ma["outputs"]["workbook"]["sha256"] == mb["outputs"]["workbook"]["sha256"]


def test_support_over_time_stacks_parts_never_a_total(two_runs):
    """The stacked columns are components; the three-part and the extended totals are not stacked on them."""
    from finsupport.report.build import EarlyParts

    r = two_runs[0]
    sheet, wide, groups = EarlyParts(r).sot
    stacked = [c for g in groups.values() for c, _ in g]
    assert stacked and not any("total" in c for c in stacked)
    assert all(label in ("Subsidies", "Guidance-fund equity", "Below-market debt", "Tax relief", "Land-price support")
               for g in groups.values() for _, label in g)
    # each year's stack is the sum of its parts: the group's pooled total of the same components
    t = r.shares["by year and certification"]
    for name, g in groups.items():
        status = name.removesuffix(" firms").lower()
        sub = t[(t["certified"] == status)].set_index(["year", "component"])["pooled_share"]
        parts = [c.split(", ")[1].rstrip("]") for c, _ in g]
        expected = sum(sub.xs(c, level="component") for c in parts)
        got = wide.set_index("year")[[c for c, _ in g]].sum(axis=1)
        assert got.to_numpy() == pytest.approx(expected.reindex(got.index).to_numpy(), rel=1e-12)
        if parts == ["subsidy", "equity", "debt"]:   # the study's three parts add up to its total
            total = sub.xs("total", level="component").reindex(got.index)
            assert got.to_numpy() == pytest.approx(total.to_numpy(), rel=1e-9)
    headline = dict(_cells(r.report_path)["Headline"][1:])
    assert not any(str(k).startswith("of which total") for k in headline)


def test_report_sheets_and_headline(two_runs):
    r = two_runs[0]
    names = load_workbook(r.report_path, read_only=True).sheetnames
    for sheet in ("About", "Headline", "Shares", "Flows", "Firms", "Designations", "Criteria audit",
                  "Regression tables", "Event study (support share)", "ATT(g,t) (support share)",
                  "Event study (subsidy share)", "Support over time", "Distribution", "Data quality", "Columns",
                  "Manifest"):
        assert sheet in names
    assert r.headline["pooled_share"] == pytest.approx(0.137, abs=1e-6)
    assert r.headline["n_firms"] == 44
    # the extended view (all five components) beside the study's three-part headline (datasets/robotics44/README.md)
    assert r.headline["components"] == ["subsidy", "equity", "debt"]
    assert r.headline["extended_pooled_share"] == pytest.approx(0.14817, abs=5e-6)
    assert list(r.shares["headline"]["component"])[-1] == "total_extended"
    about = dict(_cells(r.report_path)["About"][1:])
    assert str(about.get("Synthetic data", "")).startswith("YES")
    m = r.manifest
    assert m["data"]["synthetic"] and m["config"]["measure"]["subsidy_basis"] == "received"
    assert set(m["data"]["inputs"]) == {"firms", "financials", "grants", "equity", "designations", "land",
                                        "land_benchmarks"}
    assert all(len(v["sha256"]) == 64 for v in m["data"]["inputs"].values())
    assert (r.outputs["workbook"].parent / r.config["run"]["name"] / "regressions.tex").exists()


def test_cli_example_then_run_then_validate(tmp_path, capsys):
    ex = tmp_path / "ex"
    assert main(["example", str(ex)]) == 0
    assert {p.name for p in ex.iterdir()} >= {"firms.csv", "financials.csv", "grants.csv", "equity.csv",
                                              "designations.csv", "config.toml", "README.md"}
    assert main(["example", str(ex)]) == 3  # not empty: a config error, no overwrite
    assert main(["validate", str(ex / "config.toml")]) == 0
    assert main(["validate", str(ex)]) == 0
    cfg = (ex / "config.toml").read_text().replace("bootstrap = 999", "bootstrap = 49")
    (ex / "config.toml").write_text(cfg)
    assert main(["run", str(ex / "config.toml"), "--quiet"]) == 0
    assert (ex / "reports" / "robotics44.xlsx").exists()
    assert (ex / "reports" / "robotics44" / "manifest.json").exists()
    out = capsys.readouterr().out
    assert "13.7%" in out


@pytest.mark.parametrize("args, code, message", [
    (["run", "missing.toml"], 3, "not found"),
    (["validate", "no/such/folder"], 2, "no/such/folder"),
    (["frobnicate"], 64, "invalid choice"),
])
def test_cli_errors_are_messages_not_tracebacks(args, code, message, capsys):
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == code and message in err and "Traceback" not in err


def test_cli_bad_config_names_the_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[measure]\nsubsidy_basis = "paid"\n')
    assert main(["run", str(cfg)]) == 3
    assert "measure.subsidy_basis" in capsys.readouterr().err


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "finsupport.cli", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("finsupport ")


@pytest.mark.slow
def test_the_command_ends_its_process_with_everything_written(tmp_path):
    """``finsupport run`` as a process: the summary reaches a pipe in full, the outputs and the
    manifest are on disk, the exit code is the run's (the process ends without freeing its tables)."""
    out = tmp_path / "r"
    res = subprocess.run([sys.executable, "-m", "finsupport.cli", "run", "--quiet", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("finsupport run ") and res.stdout.rstrip().endswith("manifest.json")
    manifest = json.loads((out / "robotics44" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"]["workbook"]["sha256"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[measure]\nsubsidy_basis = "paid"\n')
    res = subprocess.run([sys.executable, "-m", "finsupport.cli", "run", str(bad)], capture_output=True, text=True)
    assert res.returncode == 3 and "measure.subsidy_basis" in res.stderr


def test_the_process_waits_for_a_thread_still_running(tmp_path):
    """With another thread still at work the process exits normally, so that thread finishes."""
    flag = tmp_path / "done"
    code = ("import threading, time, pathlib\n"
            "from finsupport.cli import end_process\n"
            f"p = pathlib.Path({str(flag)!r})\n"
            "threading.Thread(target=lambda: (time.sleep(0.3), p.write_text('x'))).start()\n"
            "print('out', end='')\n"
            "end_process(5)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 5 and res.stdout == "out" and flag.exists()


@pytest.mark.slow
def test_wheel_ships_the_embedded_dataset(tmp_path):
    """`pip install .` must carry datasets/robotics44 and the reference tables."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), "-q"], check=True)
    wheel = next(tmp_path.glob("finsupport-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("financials.csv", "firms.csv", "grants.csv", "equity.csv", "designations.csv", "truth.csv",
              "land.csv", "land_benchmarks.csv", "config.toml"):
        assert f"finsupport/datasets/robotics44/{f}" in names
    for f in ("benchmark_rates.csv", "little_giant_batches.csv", "selection_criteria.csv", "small_low_profit.csv",
              "rd_additional_deduction.csv"):
        assert f"finsupport/reference/{f}" in names


def test_readme_shows_what_the_default_run_prints(two_runs):
    """The README's headline block is the default run's own output (no hand-copied figures)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in two_runs[0].summary().splitlines()[:6]:   # through the specification grid line
        assert line in readme, line


def test_criteria_audit_sheet_lists_untested_criteria(two_runs):
    rows = _cells(two_runs[0].report_path)["Criteria audit"]
    text = [str(c) for row in rows for c in row if c is not None]
    assert any(t.startswith("Criteria not tested") for t in text)
    for test in ("niche_years", "market_share", "innovation_route", "qualitative"):
        assert test in text
    assert any("miss at least one tested criterion" in t for t in text)


def test_default_run_passes_the_plausibility_checks(two_runs):
    r = two_runs[0]
    assert r.findings == [] and r.manifest["plausibility"] == []
    assert "  plausibility checks: none triggered" in r.summary().splitlines()
    head = dict((row[0], row[1]) for row in _cells(r.report_path)["Headline"] if row and row[0])
    assert str(head["Plausibility checks"]).startswith("none triggered")
    quality = [c for row in _cells(r.report_path)["Data quality"] for c in row if isinstance(c, str)]
    assert "plausibility checks: none triggered" in quality


@pytest.mark.slow
def test_readers_that_leave_early_do_not_stop_the_command(tmp_path):
    """`validate | head -1` and `run 2>&1 | head -1`: the reader leaves early; the command still does
    its work, writes its outputs and exits with its own code."""
    cli = f"{sys.executable} -m finsupport.cli"
    ex = tmp_path / "ex"
    subprocess.run(f"{cli} example {ex}", shell=True, check=True, capture_output=True)
    res = subprocess.run(f"set -o pipefail; {cli} validate {ex / 'config.toml'} | head -1", shell=True,
                         capture_output=True, text=True, executable="/bin/bash")
    assert res.returncode == 0 and res.stdout.startswith("config "), res.stderr
    out = tmp_path / "piped"
    res = subprocess.run(f"set -o pipefail; {cli} run {ex / 'config.toml'} --out {out} 2>&1 | head -1", shell=True,
                         capture_output=True, text=True, executable="/bin/bash", timeout=900)
    assert res.returncode == 0, res.stdout
    assert (out / "robotics44.xlsx").exists() and (out / "robotics44" / "manifest.json").exists()


def _example(tmp_path: Path, cohorts: str | None = None) -> Path:
    ex = tmp_path / "ex"
    assert main(["example", str(ex)]) == 0
    if cohorts is not None:
        cfg = (ex / "config.toml").read_text()
        assert "headline_cohorts = [2019, 2020]" in cfg
        (ex / "config.toml").write_text(cfg.replace("headline_cohorts = [2019, 2020]", f"headline_cohorts = {cohorts}"))
    return ex


@pytest.mark.parametrize("cohorts, expected", [
    (None, "headline_cohorts = [2019, 2020] selects the firms first certified"),
    ("[]", "the headline's certified firms, the criteria audit and the regressions need the certifications"),
])
def test_an_empty_designations_file_stops_the_run(tmp_path, capsys, cohorts, expected):
    """A designations file with a header only would have turned the headline into every firm's
    share (9.1 % instead of 13.7 % on the example) under a note: it is a data error."""
    ex = _example(tmp_path, cohorts)
    des = ex / "designations.csv"
    des.write_text(des.read_text().splitlines()[0] + "\n")
    assert main(["validate", str(ex / "config.toml")]) == 2
    err = capsys.readouterr().err
    assert "designations: the designations table has no rows" in err or "but the designations table has no rows" in err
    assert expected in err and "silently cover every firm" in err


def test_designations_all_excluded_say_so(tmp_path, capsys):
    ex = _example(tmp_path)
    des = ex / "designations.csv"
    lines = des.read_text().splitlines()
    # every certification names a firm missing from the firms table: each row is excluded
    des.write_text("\n".join([lines[0]] + ["X" + ln for ln in lines[1:]]) + "\n")
    assert main(["validate", str(ex / "config.toml")]) == 2
    err = capsys.readouterr().err
    assert f"every one of its {len(lines) - 1:,} rows read was excluded" in err


def test_cohorts_named_but_no_designations_given(tmp_path, capsys):
    ex = _example(tmp_path)
    (ex / "designations.csv").unlink()
    assert main(["validate", str(ex / "config.toml")]) == 2
    assert "no designations table was given" in capsys.readouterr().err
    # without cohorts the run measures every firm and says so in the headline
    ex2 = _example(tmp_path / "b", "[]")
    (ex2 / "designations.csv").unlink()
    res = fs.prepare(ex2 / "config.toml")
    assert res.status is None and "all firms" in res.headline["text"]


def test_a_configured_cohort_without_firms_is_a_config_error(tmp_path, capsys):
    """[2019, 2031] would have reported the 2019 cohort alone under "first certified in 2019, 2031"."""
    ex = _example(tmp_path, "[2019, 2031]")
    assert main(["validate", str(ex / "config.toml")]) == 3
    err = capsys.readouterr().err
    assert "headline_cohorts names 2031" in err and "first certification years in the data: 2019, 2020" in err


def test_a_sample_without_certified_firms(tmp_path, capsys):
    """A [sample] of uncertified firms is a choice: without cohorts the run measures its firms with a
    note; with cohorts the error names the sample, not an empty file."""
    ex = _example(tmp_path, "[]")
    des = {ln.split(",")[0] for ln in (ex / "designations.csv").read_text().splitlines()[1:]}
    firms = [ln.split(",")[0] for ln in (ex / "firms.csv").read_text().splitlines()[1:]]
    pick = [f for f in firms if f not in des][:20]
    cfg = (ex / "config.toml").read_text()
    assert "\nfirms = []" in cfg
    (ex / "config.toml").write_text(cfg.replace("\nfirms = []", "\nfirms = " + repr(pick).replace("'", '"'), 1))
    res = fs.prepare(ex / "config.toml")
    assert res.status is None and "all firms" in res.headline["text"] and "20 firms" in res.headline["text"]
    ex2 = _example(tmp_path / "b")
    (ex2 / "config.toml").write_text((ex / "config.toml").read_text().replace(
        "headline_cohorts = []", "headline_cohorts = [2019, 2020]"))
    assert main(["validate", str(ex2 / "config.toml")]) == 2
    err = capsys.readouterr().err
    assert "the configured [sample] leaves no designations" in err and "widen [sample]" in err


def test_a_tier_without_certified_firms_is_a_config_error(tmp_path, capsys):
    ex = _example(tmp_path, "[]")
    cfg = (ex / "config.toml").read_text()
    assert 'tier = "little_giant"' in cfg
    (ex / "config.toml").write_text(cfg.replace('tier = "little_giant"', 'tier = "manufacturing_champion"'))
    assert main(["validate", str(ex / "config.toml")]) == 3
    assert "no firm of tier manufacturing_champion is certified" in capsys.readouterr().err
