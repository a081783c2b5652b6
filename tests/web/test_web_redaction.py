"""A camera password never leaves the server: not in logs, API answers, events, errors or the page.

The app runs with a real RTSP camera config whose URL carries a password and points at a port
nothing listens on, so the real stream source fails, retries and reports errors that quote
the URL. Every response body, every published event, every log record and everything written
to the process's stdout/stderr (OpenCV and FFmpeg included) is searched for the password.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial

import pytest
from fastapi.testclient import TestClient
from web_support import wait_for

from reidcam.config import AppConfig
from reidcam.core.errors import SourceError
from reidcam.pipeline.replay import replay_cameras
from reidcam.web import Services, create_app

PASSWORD = "s3cret"
URL = f"rtsp://user:{PASSWORD}@127.0.0.1:1/x"
HTTP_URL = f"http://admin:{PASSWORD}@127.0.0.1:1/video.mjpg?token={PASSWORD}"


def _config() -> AppConfig:
    return AppConfig.model_validate(
        {"cameras": [{"id": "door", "source": URL}, {"id": "yard", "source": HTTP_URL}]}
    )


class _Recorder:
    """Keeps the text of every response and every published event."""

    def __init__(self, client: TestClient) -> None:
        self.client, self.texts = client, []  # type: list[str]

    def __call__(self, method: str, url: str) -> dict | list | None:
        r = self.client.request(method, url)
        assert r.status_code != 500, (url, r.text)  # 409 (no frame yet) is an answer, 500 a crash
        self.texts.append(f"{method} {url} -> {r.status_code}\n{r.headers}\n{r.text}")
        return r.json() if "json" in r.headers.get("content-type", "") else None


def _visit_everything(rec: _Recorder) -> None:
    for url in (
        "/",
        "/static/script.js",
        "/openapi.json",
        "/api/status",
        "/api/cameras",
        "/api/cameras/door",
    ):
        rec("GET", url)
    rec("GET", "/api/cameras/door/snapshot.jpg")  # 409: no frame, the message names the camera
    rec("GET", "/api/cameras/nope")


def _door_failed(rec: _Recorder) -> bool:
    cams = {c["camera_id"]: c for c in rec("GET", "/api/cameras")}  # type: ignore[union-attr]
    return bool(cams["door"]["last_error"] or cams["door"]["errors"] or cams["door"]["reconnects"])


def test_camera_passwords_stay_out_of_answers_events_and_logs(
    make_services: Callable[..., Services],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = _config()
    services = make_services(build_cameras=partial(replay_cameras, cfg, 5.0, True))
    app = create_app(cfg, services)
    events: list[str] = []
    publish = app.state.hub.publish
    app.state.hub.publish = lambda event: (events.append(json.dumps(event)), publish(event))[1]
    with TestClient(app) as client:
        rec = _Recorder(client)
        _visit_everything(rec)
        rec("POST", "/api/start")
        wait_for(lambda: _door_failed(rec), 20, "the unreachable camera to report an error")
        _visit_everything(rec)
        rec("POST", "/api/stop")
        cams = rec("GET", "/api/cameras")
    out = capfd.readouterr()
    everything = [*rec.texts, *events, caplog.text, out.out, out.err]
    for text in everything:
        assert PASSWORD not in text, text[:2000]
    assert "rtsp://user:***@127.0.0.1:1/x" in caplog.text  # the failure was logged, masked
    described = {c["camera_id"]: c["description"] for c in cams}  # type: ignore[union-attr]
    assert described["door"] == "rtsp://user:***@127.0.0.1:1/x"
    assert "admin:***@" in described["yard"] and "token=***" in described["yard"]


def test_an_error_quoting_the_url_is_redacted(
    make_services: Callable[..., Services], caplog: pytest.LogCaptureFixture
) -> None:
    """A camera that cannot be built: the 400 and the runner error quote the source, masked."""

    def broken() -> list:
        raise SourceError(f"camera 'door': cannot open {URL} (connection refused)")

    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(_config(), make_services(build_cameras=broken))) as c:
        r = c.post("/api/start")
        assert r.status_code == 400
        assert "rtsp://user:***@127.0.0.1:1/x" in r.json()["detail"]
        texts = [r.text, c.get("/api/status").text, c.get("/api/cameras").text, caplog.text]
    for text in texts:
        assert PASSWORD not in text
