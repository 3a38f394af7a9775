"""The workbook opens in LibreOffice: headless conversion to PDF succeeds."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from test_workbook import sample_report

from finsupport.report import write_workbook

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (no soffice/libreoffice on PATH); "
                                               "install libreoffice-calc to run this check"),
]


def test_libreoffice_converts_report_to_pdf(tmp_path):
    book = write_workbook(sample_report(), tmp_path / "report.xlsx")
    out = tmp_path / "pdf"
    out.mkdir()
    profile = (tmp_path / "lo-profile").as_uri()   # own profile: parallel runs do not share a lock
    proc = subprocess.run([SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                           "--outdir", str(out), str(book)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    pdf = out / "report.pdf"
    assert pdf.exists() and pdf.stat().st_size > 0, proc.stdout + proc.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_libreoffice_renders_the_default_run(tmp_path):
    """The default run's workbook, charts included, converts to PDF: every sheet prints."""
    import re

    import finsupport as fs

    res = fs.run(None, out=tmp_path / "robotics44.xlsx", progress=False)
    out = tmp_path / "pdf"
    out.mkdir()
    profile = (tmp_path / "lo-profile").as_uri()
    proc = subprocess.run([SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                           "--outdir", str(out), str(res.report_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    pdf = (out / "robotics44.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    sheets = len(res.report_sheets) if hasattr(res, "report_sheets") else 17
    assert pages >= sheets   # at least one page per sheet: nothing dropped
