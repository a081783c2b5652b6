"""``reidcam memory``'s options and its one-line errors (no broker, an unreachable one, bad values)."""

from __future__ import annotations

import pytest

from broker.nats_support import free_port
from reidcam.cli import main


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("reidcam")]


def test_without_a_broker_it_says_which_option_is_missing(tmp_path, capsys):
    assert main(["memory", "--data-dir", str(tmp_path / "d")]) == 2
    assert _err_lines(capsys) == [
        "reidcam: error: reidcam memory needs a broker: --broker nats://HOST:PORT (or broker.url)"
    ]
    assert not (tmp_path / "d").exists()  # refused before opening anything


def test_a_bad_batch_is_one_clear_error(tmp_path, capsys):
    args = ["memory", "--broker", "nats://127.0.0.1:4222", "--data-dir", str(tmp_path), "--batch", "0"]
    assert main(args) == 2
    assert _err_lines(capsys) == ["reidcam: error: batch and max_attempts must be >= 1"]


def test_an_unreachable_broker_is_one_line_after_the_attempts(tmp_path, capsys):
    pytest.importorskip("nats", reason="needs nats-py: pip install -e '.[dev]'")
    config = tmp_path / "c.yaml"
    config.write_text("broker:\n  connect_attempts: 2\n  connect_timeout_s: 0.5\n  reconnect_wait_s: 0.1\n")
    url = f"nats://127.0.0.1:{free_port()}"
    args = ["memory", "--broker", url, "--config", str(config), "--data-dir", str(tmp_path / "d")]
    assert main(args) == 2
    [line] = _err_lines(capsys)
    assert line.startswith(f"reidcam: error: cannot reach the NATS broker at {url} after 2 attempts: ")
