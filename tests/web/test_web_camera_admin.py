"""Add and remove cameras through the API (POST /api/cameras, DELETE /api/cameras/{id}), while
detection is stopped or running; the page's socket follows; bad input gets a clear 4xx."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_web_live import _collect
from web_support import CAMERAS, fake_config, wait_for

from reidcam.web import Services, create_app

SECRET = "s3cret-pw"


def _cameras(client: TestClient) -> dict[str, dict]:
    return {c["camera_id"]: c for c in client.get("/api/cameras").json()}


def _processed(client: TestClient) -> dict[str, int]:
    return {cid: c["frames_processed"] for cid, c in _cameras(client).items()}


def test_camera_added_while_stopped_runs_on_start_and_is_listed(client: TestClient) -> None:
    r = client.post("/api/cameras", json={"id": "cam2", "source": "synthetic-cam0", "name": "Hall"})
    assert r.status_code == 201, r.text
    assert r.json()["camera_id"] == "cam2" and r.json()["state"] == "stopped" and r.json()["name"] == "Hall"
    assert list(_cameras(client)) == [*CAMERAS, "cam2"]
    assert client.get("/api/cameras/cam2").status_code == 200
    client.post("/api/start")
    wait_for(lambda: min(_processed(client).values()) >= 5, what="frames on all three cameras")
    assert _cameras(client)["cam2"]["state"] == "live"
    client.post("/api/stop")
    client.post("/api/start")  # a second Start builds the added camera again
    wait_for(
        lambda: _cameras(client)["cam2"]["state"] == "live", what="cam2 live after a restart of detection"
    )
    client.post("/api/stop")


def test_camera_added_and_removed_while_running_the_others_go_on(
    client: TestClient, services: Services
) -> None:
    recorded: list[str] = []
    memory = services.memory
    assert memory is not None
    record = memory.record_sighting

    def spy(sighting, now=None):  # type: ignore[no-untyped-def]
        recorded.append(sighting.key.camera_id)
        return record(sighting, now)

    memory.record_sighting = spy  # type: ignore[method-assign]
    client.post("/api/start")
    wait_for(lambda: min(_processed(client).values()) >= 5, what="frames on both cameras")
    before = _processed(client)
    assert client.post("/api/cameras", json={"id": "cam2", "source": "synthetic-cam1"}).status_code == 201
    wait_for(lambda: _processed(client)["cam2"] >= 20, what="frames of the added camera")
    during = _processed(client)
    assert all(during[c] > before[c] for c in CAMERAS), (before, during)
    assert client.get("/api/status").json()["running"] is True

    r = client.delete("/api/cameras/cam2")
    assert r.status_code == 204, r.text
    assert list(_cameras(client)) == list(CAMERAS)
    assert client.get("/api/cameras/cam2").status_code == 404
    assert client.app.state.controller.flush_identities(10.0)  # type: ignore[attr-defined]
    assert "cam2" in recorded, "the removed camera's sightings reached the identity memory"
    after = _processed(client)
    wait_for(lambda: all(_processed(client)[c] > after[c] for c in CAMERAS), what="the others going on")
    runner = client.app.state.controller._runner  # type: ignore[attr-defined]
    assert [u.camera_id for u in runner.cameras] == list(CAMERAS)
    client.post("/api/stop")


def test_removing_a_configured_camera_keeps_it_out_of_the_next_start(client: TestClient) -> None:
    assert client.delete("/api/cameras/cam1").status_code == 204
    client.post("/api/start")
    wait_for(lambda: _processed(client).get("cam0", 0) >= 5, what="frames on cam0")
    assert list(_cameras(client)) == ["cam0"]
    runner = client.app.state.controller._runner  # type: ignore[attr-defined]
    assert [u.camera_id for u in runner.cameras] == ["cam0"]
    client.post("/api/stop")


def test_every_camera_removed_while_running_then_one_added(client: TestClient) -> None:
    client.post("/api/start")
    for cam in CAMERAS:
        assert client.delete(f"/api/cameras/{cam}").status_code == 204
    assert client.get("/api/cameras").json() == []
    assert client.get("/api/status").json()["running"] is True, "detection waits for a camera"
    assert client.post("/api/cameras", json={"id": "late", "source": "synthetic-cam0"}).status_code == 201
    wait_for(lambda: _processed(client).get("late", 0) >= 5, what="frames of the camera added last")
    client.post("/api/stop")


def test_bad_requests_get_clear_4xx(client: TestClient) -> None:
    dup = client.post("/api/cameras", json={"id": "cam0", "source": "synthetic-cam0"})
    assert dup.status_code == 409 and "'cam0' already exists" in dup.json()["detail"]
    bad_id = client.post("/api/cameras", json={"id": "no spaces/here", "source": "x.mp4"})
    assert bad_id.status_code == 422 and bad_id.json()["detail"][0]["loc"] == ["body", "id"]
    extra = client.post("/api/cameras", json={"id": "c", "source": "x.mp4", "colour": "red"})
    assert extra.status_code == 422
    empty = client.post("/api/cameras", json={"id": "c", "source": "  "})
    assert empty.status_code == 422 and "empty source" in empty.text
    scheme = client.post("/api/cameras", json={"id": "c", "source": f"ftp://admin:{SECRET}@10.0.0.5/x"})
    assert scheme.status_code == 422 and "unsupported scheme 'ftp'" in scheme.text
    assert SECRET not in scheme.text, "the password is redacted in the 422, the echoed input too"
    unknown = client.delete("/api/cameras/nope")
    assert unknown.status_code == 404 and "no camera 'nope'" in unknown.json()["detail"]
    assert list(_cameras(client)) == list(CAMERAS), "nothing changed"


def test_secrets_in_an_added_camera_url_are_redacted(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/cameras", json={"id": "door", "source": f"rtsp://admin:{SECRET}@127.0.0.1:9/live"})
    assert r.status_code == 201
    assert SECRET not in r.text and "rtsp://admin:***@127.0.0.1:9/live" in r.json()["description"]
    assert SECRET not in client.get("/api/cameras").text
    assert SECRET not in client.get("/api/status").text
    assert "camera door added (rtsp://admin:***@127.0.0.1:9/live)" in caplog.text
    client.post("/api/start")  # the runner opens it (a refused connection retries) and logs
    wait_for(lambda: _processed(client)["cam0"] >= 3, what="frames on cam0")
    client.delete("/api/cameras/door")
    client.post("/api/stop")
    assert SECRET not in caplog.text


def test_a_source_that_cannot_be_opened_is_added_failed_like_at_startup(
    client: TestClient, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "door.mp4"
    r = client.post("/api/cameras", json={"id": "door", "source": str(missing)})
    assert r.status_code == 201
    assert r.json()["state"] == "failed" and "does not exist" in r.json()["last_error"]
    client.post("/api/start")  # running: the runner marks it failed, the others run
    wait_for(lambda: min(v for k, v in _processed(client).items() if k != "door") >= 5, what="the others")
    door = _cameras(client)["door"]
    assert door["state"] == "failed" and door["last_error"]
    assert client.delete("/api/cameras/door").status_code == 204
    r = client.post("/api/cameras", json={"id": "door2", "source": str(missing)})  # while running
    assert r.status_code == 201 and r.json()["state"] == "failed"
    assert client.get("/api/status").json()["running"] is True
    client.post("/api/stop")


def test_the_live_socket_follows_the_camera_set(client: TestClient) -> None:
    client.post("/api/start")
    with client.websocket_connect("/api/live?fps=30") as ws:
        assert json.loads(ws.receive_text())[0]["cameras"] == list(CAMERAS)
        _collect(ws, lambda f, e: len(f) == 2 and min(f.values()) >= 2)
        client.post("/api/cameras", json={"id": "cam2", "source": "synthetic-cam0"})
        frames, events = _collect(ws, lambda f, e: f.get("cam2", 0) >= 3)
        assert {"type": "cameras", "cameras": [*CAMERAS, "cam2"]} in events
        client.delete("/api/cameras/cam2")
        _, events = _collect(ws, lambda f, e: any(x["type"] == "cameras" for x in e))
        assert next(x for x in events if x["type"] == "cameras")["cameras"] == list(CAMERAS)
        frames, _ = _collect(ws, lambda f, e: min(f.get(c, 0) for c in CAMERAS) >= 10)
        assert frames.get("cam2", 0) <= 1, "at most a frame already in flight after the removal"
    client.post("/api/stop")


def test_a_restart_returns_to_the_configs_cameras(make_services: Callable[..., Services]) -> None:
    services = make_services()
    with TestClient(create_app(fake_config(), services)) as c:
        assert c.post("/api/cameras", json={"id": "cam2", "source": "synthetic-cam0"}).status_code == 201
        assert c.delete("/api/cameras/cam0").status_code == 204
        assert list(_cameras(c)) == ["cam1", "cam2"]
    with TestClient(create_app(fake_config(), services)) as c:
        assert list(_cameras(c)) == list(CAMERAS)
