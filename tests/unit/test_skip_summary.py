"""The closing line of ``make test`` counts the skipped tests and groups their reasons."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "skip_summary.py"

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" skipped="3">
<testcase classname="a" name="t1"/>
<testcase classname="a" name="t2">
  <skipped type="pytest.skip" message="/usr/bin/chromium is missing: install"/></testcase>
<testcase classname="a" name="t3">
  <skipped type="pytest.skip" message="/usr/bin/chromium is missing: install"/></testcase>
<testcase classname="b" name="t4">
  <skipped type="pytest.skip" message="no RTSP server: apt-get install x"/></testcase>
</testsuite></testsuites>
"""


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_skips_are_counted_and_grouped_by_reason(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(REPORT)
    done = _run(str(report))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("make test: 3 test(s) skipped")
    assert lines[1:] == [
        "     2 x /usr/bin/chromium is missing: install",
        "     1 x no RTSP server: apt-get install x",
    ]


def test_no_skip_and_a_missing_report(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(REPORT.replace("<skipped", "<x").replace('skipped="3"', ""))
    assert _run(str(report)).stdout.strip() == "make test: no test skipped"
    assert _run(str(tmp_path / "none.xml")).returncode == 2
