"""``benchmarks/soak.py --minutes 1`` end to end: the real server, real models, a browser-like client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_minute_soak_measures_the_server(weights_dir: Path, media_dir: Path, tmp_path: Path) -> None:
    for name in ("vtest.avi", "people-detection.264"):
        if not (media_dir / name).is_file():
            pytest.skip(f"{name} is not in {media_dir}")
    out = tmp_path / "soak.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--minutes", "1", "--json", str(out)]
    cmd += [
        "--weights-dir",
        str(weights_dir),
        "--media-dir",
        str(media_dir),
        "--data-dir",
        str(tmp_path / "s"),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert any(line.startswith("[  1.0 min] rss") for line in lines), run.stdout
    assert lines[-1].startswith(("PASS", "FAIL")) and "too short to judge growth" in lines[-1]

    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert 200 < row["rss_mb"] < 8000 and row["fds"] > 5 and row["threads"] > 3
    assert set(row["fps"]) == {"cam0", "cam1"} and all(v > 0 for v in row["fps"].values())
    s = doc["summary"]
    assert s["client_errors"] == 0, s["faults"]
    assert s["requests"] > 100 and s["frames"] > 0 and s["events"] > 0
    assert s["query_set"] is True  # a gallery crop became the query
    assert s["server_exit_code"] in (0, 130) and not s["server_killed"]  # open streams did not hold it up
    assert (tmp_path / "s" / "server.log").is_file()
