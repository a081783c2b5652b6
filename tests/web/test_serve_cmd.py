"""``reidcam serve``: safe defaults, refusals before any model is loaded."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from reidcam.cli import main
from reidcam.commands.serve import TOKEN_ENV, _with_default_cameras, resolve_token
from reidcam.config import AppConfig, load_config
from reidcam.core.errors import ConfigError
from reidcam.web.security import is_loopback


def _args(token_file: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(token_file=token_file)


def test_loopback_needs_no_token_but_other_hosts_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert resolve_token(_args(), "127.0.0.1") is None
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        resolve_token(_args(), "0.0.0.0")
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(ConfigError, match="at least"):
        resolve_token(_args(), "192.168.1.5")
    monkeypatch.setenv(TOKEN_ENV, "a-long-enough-secret")
    assert resolve_token(_args(), "0.0.0.0") == "a-long-enough-secret"
    assert resolve_token(_args(), "localhost") == "a-long-enough-secret"  # set: used on loopback too
    f = tmp_path / "token"
    f.write_text("from-a-file-123456\n")
    assert resolve_token(_args(str(f)), "0.0.0.0") == "from-a-file-123456"
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_token(_args(str(tmp_path / "missing")), "0.0.0.0")


def test_the_token_can_come_from_the_config_by_reference(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITE_TOKEN", "token-from-the-env-via-config")
    monkeypatch.setenv(TOKEN_ENV, "the-plain-env-token")
    cfg_file = tmp_path / "reidcam.yaml"
    cfg_file.write_text("web:\n  token: ${SITE_TOKEN}\n")
    cfg = load_config(cfg_file)
    configured = cfg.web.token.get_secret_value() if cfg.web.token else None
    assert resolve_token(_args(), "0.0.0.0", configured) == "token-from-the-env-via-config"
    f = tmp_path / "token"
    f.write_text("from-a-file-123456\n")
    assert resolve_token(_args(str(f)), "0.0.0.0", configured) == "from-a-file-123456"  # the file wins
    assert "token-from-the-env" not in repr(cfg) and "token-from-the-env" not in cfg.model_dump_json()
    with pytest.raises(ConfigError, match="at least"):
        resolve_token(_args(), "0.0.0.0", "short")
    assert main(["check-config", str(cfg_file)]) == 0
    assert "token-from-the-env" not in capsys.readouterr().out  # check-config shows the tree, masked


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.0.2", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_without_cameras_the_two_usb_cameras_are_used() -> None:
    cfg = _with_default_cameras(AppConfig())
    assert [(c.id, c.source) for c in cfg.cameras] == [("cam0", 0), ("cam1", 1)]
    mine = AppConfig.model_validate({"cameras": [{"id": "door", "source": "rtsp://cam/1"}]})
    assert _with_default_cameras(mine) is mine


def test_serve_refuses_a_public_host_without_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert TOKEN_ENV in capsys.readouterr().err


def test_serve_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert "try --port" in capsys.readouterr().err
