"""User errors end in one clear line and exit code 2, never a traceback."""

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.cli import main


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No weights anywhere: empty env dir, empty user cache."""
    monkeypatch.delenv("REIDCAM_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def query(tmp_path):
    p = tmp_path / "q.jpg"
    cv2.imwrite(str(p), np.full((128, 64, 3), 120, np.uint8))
    return p


@pytest.fixture
def frames(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(2):
        cv2.imwrite(str(d / f"{i:03d}.jpg"), np.zeros((64, 64, 3), np.uint8))
    return d


def _run(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def _error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.startswith("reidcam: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_weights(capsys, no_weights, query, frames, tmp_path):
    code, err = _run(
        capsys,
        "search",
        "--query",
        str(query),
        "--source",
        f"a={frames}",
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    )
    assert code == 2
    line = _error_line(err)
    assert "person-reidentification-retail-0288" in line and "reidcam weights fetch" in line


def test_unreadable_query_image(capsys, tmp_path, frames):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    code, err = _run(capsys, "search", "--query", str(bad), "--source", f"a={frames}", "--out", str(tmp_path))
    assert code == 2 and "bad.jpg" in _error_line(err)
    code, err = _run(
        capsys,
        "search",
        "--query",
        str(tmp_path / "nope.jpg"),
        "--source",
        f"a={frames}",
        "--out",
        str(tmp_path),
    )
    assert code == 2 and "nope.jpg" in _error_line(err)


def test_source_that_cannot_be_opened(capsys, tmp_path, query):
    code, err = _run(
        capsys,
        "search",
        "--query",
        str(query),
        "--source",
        f"cam={tmp_path}/missing.mp4",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "missing.mp4" in _error_line(err)


def test_malformed_source_argument(capsys, tmp_path, query):
    code, err = _run(capsys, "search", "--query", str(query), "--source", "nocamid", "--out", str(tmp_path))
    assert code == 2 and "CAM_ID" in _error_line(err)


def test_invalid_config_key(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras: []\nmatcher:\n  treshold: 0.5\n")
    code, err = _run(capsys, "check-config", str(cfg))
    assert code == 2 and "matcher.treshold" in _error_line(err) and "c.yaml:3" in err


def test_check_config_ok_redacts_passwords(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "hunter2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras:\n  - id: a\n    source: rtsp://u:${PW}@127.0.0.1/s\n")
    assert main(["check-config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "hunter2" not in out


def test_weights_list_runs(capsys, no_weights):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "osnet_x0_25_msmt17" in out and "missing" in out


def test_console_script_help():
    exe = shutil.which("reidcam", path=str(Path(sys.executable).parent))
    assert exe, "the reidcam console script is installed with the package"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "search" in out and "check-config" in out
