"""Print the closing line of ``make test``: how many tests were skipped, and why, grouped.

pytest's ``-ra`` lists every skip among the other results; a user who wants to know what their
machine did not test (no Chromium, no RTSP server, no weights) needs one short answer at the
very end. Reads the JUnit XML that ``make test`` asks pytest to write.

Usage: python tests/skip_summary.py REPORT.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

MAX_REASON_CHARS = 160


def skip_reasons(report: Path) -> Counter[str]:
    """Skip reason -> how many tests skipped with it."""
    reasons: Counter[str] = Counter()
    for case in ET.parse(report).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None:
            reason = (skipped.get("message") or "no reason given").removeprefix("Skipped: ")
            reasons[reason[:MAX_REASON_CHARS]] += 1
    return reasons


def summary_lines(reasons: Counter[str]) -> list[str]:
    total = sum(reasons.values())
    if not total:
        return ["make test: no test skipped"]
    lines = [f"make test: {total} test(s) skipped; README 'Quick start' says what enables them:"]
    lines += [f"  {n:4d} x {reason}" for reason, n in reasons.most_common()]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python tests/skip_summary.py REPORT.xml (a pytest --junitxml report)", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(skip_reasons(Path(argv[0])))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
