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
