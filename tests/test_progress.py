"""Progress display: captured streams, a fake clock, and the run's own stages."""

import io
import re

import finsupport as fs
from finsupport.cli import main
from finsupport.progress import Progress, format_seconds


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_log_lines_are_timestamped_with_counts_and_time_left():
    out, clock = io.StringIO(), Clock()
    p = Progress(stream=out, interactive=False, interval=10.0, clock=clock)
    with p.stage("bootstrap draws", total=1000, unit="draws") as task:
        for _ in range(10):
            clock.t += 3.0
            task.advance(100)     # one line at most every 10 s of the fake clock
    lines = out.getvalue().splitlines()
    assert all(re.match(STAMP + " finsupport: ", line) for line in lines)
    assert lines[0].endswith("bootstrap draws … (1,000 draws)")
    # updates at 12 s (400 done: 12/400 × 600 = 18 s left) and 24 s (800 done: 6 s left)
    assert lines[1].endswith("bootstrap draws — 400/1,000 draws — 12 s — ~18 s left")
    assert lines[2].endswith("bootstrap draws — 800/1,000 draws — 24 s — ~6.0 s left")
    assert lines[-1].endswith("bootstrap draws — 1,000/1,000 draws — 30 s — done")
    assert len(lines) == 4
    assert p.timings == {"bootstrap draws": 30.0}


def test_terminal_rewrites_one_line_and_clears_it():
    out, clock = io.StringIO(), Clock()
    p = Progress(stream=out, interactive=True, interval=0.0, clock=clock)
    with p.stage("reading", total=2, unit="tables") as task:
        clock.t = 1.0
        task.note("financials")
        task.advance()
    p.close()
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") >= 3
    assert "reading (financials) — 1/2 tables — 1.0 s — ~1.0 s left" in text
    assert text.endswith("\r")            # the line is cleared at the end


def test_quiet_shows_nothing_but_keeps_timings():
    out, clock = io.StringIO(), Clock()
    p = Progress(enabled=False, stream=out, clock=clock)
    with p.stage("measure"):
        clock.t = 2.5
    with p.stage("measure"):
        clock.t = 3.0
    assert out.getvalue() == ""
    assert p.timings == {"measure": 3.0}


def test_not_a_terminal_by_default_for_a_plain_stream():
    assert Progress(stream=io.StringIO()).interactive is False


def test_format_seconds():
    assert [format_seconds(s) for s in (0.44, 12.4, 185, 3725)] == ["0.4 s", "12 s", "3 min 05 s", "1 h 02 min"]


def test_a_run_reports_every_stage_to_a_log(tmp_path):
    from finsupport.example import write_example

    ex = write_example(tmp_path / "ex")
    cfg = (ex / "config.toml").read_text(encoding="utf-8")
    cfg = cfg.replace("bootstrap = 999", "bootstrap = 49").replace('figures = ["png", "pdf"]', "figures = []")
    cfg = cfg.replace('estimators = ["twfe", "event_study", "att_gt", "bacon"]', 'estimators = ["twfe", "att_gt"]')
    (ex / "config.toml").write_text(cfg, encoding="utf-8")
    out = io.StringIO()
    r = fs.run(ex / "config.toml", out=tmp_path / "r.xlsx", progress_to=Progress(stream=out, interactive=False))
    text = out.getvalue()
    for stage in ("read", "validate", "measure", "certify", "estimate: twfe (share)", "estimate: att_gt (share)",
                  "estimate: att_gt aggregations (share)", "report: workbook"):
        assert re.search(STAMP + f" finsupport: {re.escape(stage)} .*— done", text), stage
        assert stage in r.timings
    # reading names every table with its rows; the workbook counts its sheets
    assert re.search(r"finsupport: read \(firms 244 rows, financials 2,196 rows, grants [\d,]+ rows", text)
    assert re.search(r"report: workbook \(Manifest\) — (\d+)/\1 sheets — .* — done", text)


def test_cli_quiet_silences_progress(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[analysis]\nenabled = false\n[output]\nfigures = []\n', encoding="utf-8")
    assert main(["run", str(cfg), "--out", str(tmp_path / "q.xlsx"), "--quiet"]) == 0
    assert "finsupport: " not in capsys.readouterr().err.replace("finsupport run", "")
    assert main(["run", str(cfg), "--out", str(tmp_path / "v.xlsx")]) == 0
    err = capsys.readouterr().err
    assert re.search(STAMP + " finsupport: measure", err)


def test_reading_and_validation_report_each_table_within_their_stage(tmp_path):
    from finsupport.data.validate import validate_dataset
    from finsupport.example import write_example

    ex = write_example(tmp_path / "ex")
    out, clock = io.StringIO(), Clock()
    p = Progress(stream=out, interactive=False, interval=0.0, clock=clock)
    with p.stage("read") as task:
        data = fs.read_dataset(ex, validate=False)
        assert task.total == 14 and task.done == 14   # seven files parsed, seven tables built (with land)
    with p.stage("validate") as task:
        validate_dataset(data)
        assert task.total == task.done == 8           # seven tables, then the checks across tables
    text = out.getvalue()
    assert re.search(r"read \(parsing grants\.csv, [\d.]+ MB\) — \d+/14 files and tables", text)
    assert re.search(r"read \(financials 2,196 rows\) — \d+/14 files and tables", text)
    assert re.search(r"validate \(grants, [\d,]+ rows\) — \d/8 tables", text)


def test_current_task_reaches_code_inside_a_stage_and_counts_from_expect():
    from finsupport.progress import current_task

    out, clock = io.StringIO(), Clock()
    p = Progress(stream=out, interactive=False, interval=0.0, clock=clock)
    outside = current_task()
    outside.expect(5, "draws")
    outside.advance(5)                    # no stage: shows nothing, times nothing
    assert out.getvalue() == "" and p.timings == {}
    with p.stage("estimate: att_gt (share)") as task:
        clock.t = 40.0                    # the estimation before the bootstrap
        inner = current_task()
        assert inner is task
        inner.expect(1000, "draws")
        clock.t = 50.0
        inner.advance(250)                # 10 s for 250 draws: 30 s left, not 160 s
        assert task.remaining() == 30.0
    assert current_task() is not task
    assert "250/1,000 draws — 50 s — ~30 s left" in out.getvalue()


def test_bootstrap_draws_report_to_the_running_stage():
    """att_gt's multiplier bootstrap counts its draws in the stage that runs it (time left shown)."""
    panel = fs.analysis_panel(fs.load_example())
    out = io.StringIO()
    p = Progress(stream=out, interactive=False, interval=0.0)
    with p.stage("estimate: att_gt") as task:
        fs.att_gt(panel, outcome="share", unit="firm_id", time="year", cohort="cohort", bootstrap=99, seed=1)
        assert (task.unit, task.total, task.done) == ("draws", 99, 99)
    assert "/99 draws" in out.getvalue()
