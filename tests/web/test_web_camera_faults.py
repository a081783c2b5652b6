"""Camera health in the API while a real network camera faults: state, reconnects, frame age.

The UI's camera panels show exactly these fields, so the API must carry them for a camera
that is hung or switched off, next to a healthy one, and recover when it comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_support import fake_cameras, wait_for

from reidcam.capture import StreamSource
from reidcam.config import AppConfig, TrackerConfig
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.track import build_tracker
from reidcam.web import Services, create_app
from support.mjpeg_server import MjpegServer

pytestmark = pytest.mark.timeout(60)


# Stalled shows from half the read timeout until FFmpeg gives up the read: a window wide
# enough for a poll to see even on a loaded machine.
READ_TIMEOUT_S = 3.0


@pytest.fixture
def fault_client(mjpeg_server: MjpegServer, make_services: Callable[..., Services]) -> Iterator[TestClient]:
    """The app with a healthy synthetic camera ``cam0`` and the MJPEG mjpeg_server camera ``ipcam``."""

    def build() -> list[CameraUnit]:
        src = StreamSource(
            "ipcam",
            mjpeg_server.url,
            reconnect_backoff_s=0.05,
            reconnect_backoff_max_s=0.2,
            read_timeout_s=READ_TIMEOUT_S,
        )
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        return [fake_cameras()[0], CameraUnit("ipcam", src, tracker, SightingBook("ipcam"))]

    cfg = AppConfig.model_validate(
        {"cameras": [{"id": "cam0", "source": "synthetic-cam0"}, {"id": "ipcam", "source": mjpeg_server.url}]}
    )
    with TestClient(create_app(cfg, make_services(build_cameras=build))) as client:
        yield client


def camera(client: TestClient, camera_id: str) -> dict[str, Any]:
    r = client.get(f"/api/cameras/{camera_id}")
    assert r.status_code == 200, r.text
    return r.json()


def in_state(client: TestClient, state: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        cam = camera(client, "ipcam")
        return cam if cam["state"] == state else None

    return check


def test_camera_status_carries_state_reconnects_and_frame_age_through_faults(
    fault_client: TestClient, mjpeg_server: MjpegServer
) -> None:
    client = fault_client
    assert client.post("/api/start").json()["running"] is True
    live = wait_for(in_state(client, "live"), what="ipcam live")
    assert live["reconnects"] == 0 and live["last_frame_age_s"] is not None

    mjpeg_server.stall()
    stalled = wait_for(in_state(client, "stalled"), timeout_s=READ_TIMEOUT_S, what="ipcam stalled")
    assert stalled["last_frame_age_s"] >= READ_TIMEOUT_S / 2  # stall_after_s = half the read timeout

    mjpeg_server.stop()
    wait_for(lambda: camera(client, "ipcam")["reconnects"] >= 3, what="3 reconnects")
    down = camera(client, "ipcam")
    assert down["state"] == "reconnecting"
    assert down["last_frame_age_s"] > READ_TIMEOUT_S / 2
    assert "cannot open" in down["last_error"] and str(mjpeg_server.port) in down["last_error"]
    listed = {c["camera_id"]: c for c in client.get("/api/cameras").json()}
    assert {"state", "reconnects", "last_frame_age_s"} <= set(listed["ipcam"])
    assert listed["ipcam"]["state"] == "reconnecting" and listed["ipcam"]["reconnects"] >= 3
    assert listed["cam0"]["state"] == "live" and listed["cam0"]["reconnects"] == 0
    status_cams = {c["camera_id"]: c for c in client.get("/api/status").json()["cameras"]}
    assert status_cams["ipcam"]["state"] == "reconnecting"

    mjpeg_server.come_back()
    back = wait_for(in_state(client, "live"), timeout_s=6.0, what="ipcam live again")
    assert back["reconnects"] >= down["reconnects"]  # the count stays visible after recovery
    assert back["last_frame_age_s"] < 1.0
    assert client.post("/api/stop").json()["running"] is False
