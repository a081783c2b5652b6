"""A source that cannot be opened fails alone: named at start-up, ``failed`` with its reason in the
API from the first request (before Start), through Start and after Stop, while the good camera runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import pytest
from fastapi.testclient import TestClient
from web_support import wait_for

from reidcam.capture import source_problems
from reidcam.cli import main
from reidcam.config import AppConfig
from reidcam.core.errors import ConfigError
from reidcam.pipeline.replay import replay_cameras
from reidcam.testing import render, two_camera_scene
from reidcam.web import Services, create_app
from reidcam.web.feed import placeholder_text

pytestmark = pytest.mark.timeout(60)


def _video(path: Path, n: int = 30) -> Path:
    """A real MJPEG-in-AVI file of the synthetic scene (decoded by OpenCV like any user's video)."""
    frames = render(two_camera_scene(), "cam0", n)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def _config(tmp_path: Path) -> AppConfig:
    return AppConfig.model_validate(
        {
            "cameras": [
                {"id": "a", "source": str(tmp_path / "missing.mp4")},
                {"id": "b", "source": str(_video(tmp_path / "b.avi"))},
            ],
            "tracker": {"frame_rate": 10, "track_buffer": 10},
        }
    )


def _cams(client: TestClient) -> dict[str, dict[str, Any]]:
    r = client.get("/api/cameras")
    assert r.status_code == 200, r.text
    return {c["camera_id"]: c for c in r.json()}


def _failed_with_reason(cam: dict[str, Any]) -> None:
    assert cam["state"] == "failed", cam
    assert "missing.mp4" in cam["last_error"] and "does not exist" in cam["last_error"]


def test_the_picture_of_a_failed_camera_says_failed_not_waiting(
    tmp_path: Path, make_services: Callable[..., Services]
) -> None:
    cfg = _config(tmp_path)
    services = make_services(
        build_cameras=partial(replay_cameras, cfg, 50.0, True), source_problems=source_problems(cfg.cameras)
    )
    app = create_app(cfg, services)
    with TestClient(app) as client:
        ctrl = app.state.controller
        assert placeholder_text(ctrl, "a") == "a: failed" and placeholder_text(ctrl, "b") == "b: stopped"
        assert client.post("/api/start").json()["running"] is True
        assert placeholder_text(ctrl, "a") == "a: failed"
        assert placeholder_text(ctrl, "b") == "b: waiting for frames"
        client.post("/api/stop")


def test_an_unusable_source_is_failed_from_the_start_and_the_other_camera_runs(
    tmp_path: Path, make_services: Callable[..., Services]
) -> None:
    cfg = _config(tmp_path)
    services = make_services(
        build_cameras=partial(replay_cameras, cfg, 50.0, True), source_problems=source_problems(cfg.cameras)
    )
    with TestClient(create_app(cfg, services)) as client:
        before = _cams(client)
        _failed_with_reason(before["a"])
        status = {c["camera_id"]: c for c in client.get("/api/status").json()["cameras"]}
        _failed_with_reason(status["a"])
        assert before["b"]["state"] == "stopped" and before["b"]["last_error"] is None

        started = client.post("/api/start")
        assert started.status_code == 200 and started.json()["running"] is True
        wait_for(lambda: _cams(client)["b"]["frames_processed"] > 3, what="camera b processing frames")
        running = _cams(client)
        _failed_with_reason(running["a"])
        assert running["b"]["state"] == "live"

        assert client.post("/api/stop").json()["running"] is False
        _failed_with_reason(_cams(client)["a"])


def test_serve_names_the_unusable_source_before_loading_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    def stop_before_loading(cfg: AppConfig, data_dir: Path, **kwargs: object) -> Services:
        seen.update(kwargs)
        raise ConfigError("models not loaded in this test")

    monkeypatch.setattr("reidcam.web.build_services", stop_before_loading)
    video = _video(tmp_path / "b.avi")
    argv = ["serve", "--port", "0", "--source", f"a={tmp_path}/missing.mp4", "--source", f"b={video}"]
    assert main([*argv, "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "camera 'a'" in x)
    assert "missing.mp4" in line and "shown as failed" in line and "other cameras run" in line
    assert "camera 'b'" not in err
    assert set(seen["source_problems"]) == {"a"}  # type: ignore[arg-type]
