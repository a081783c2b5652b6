"""The user's flow through the HTTP API, on fake models and synthetic looping cameras."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from web_support import ALICE, CAMERAS, is_colour, wait_for

from reidcam.web import Services


def _cards(client: TestClient, **params: object) -> dict:
    r = client.get("/api/gallery", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _alice_crop(client: TestClient, camera_id: str) -> str | None:
    for card in _cards(client, camera_id=camera_id)["cards"]:
        for crop in card["crops"]:
            if is_colour(client.get(crop["url"]).content, ALICE):
                return crop["crop_id"]
    return None


def _files(folder: Path) -> list[Path]:
    """Finished crop files (CropStore writes ``.tmp-*`` first, then renames)."""
    return sorted(p for p in folder.glob("*.jpg") if not p.name.startswith(".")) if folder.is_dir() else []


def test_cameras_are_listed_before_start(client: TestClient) -> None:
    cams = client.get("/api/cameras").json()
    assert [c["camera_id"] for c in cams] == list(CAMERAS)
    assert {c["state"] for c in cams} == {"stopped"}
    assert all(c["last_match"] is None and c["stream_url"].endswith("stream.mjpg") for c in cams)
    assert client.get("/api/status").json()["running"] is False
    assert client.get("/api/status").json()["device"] == "cpu"  # where the models run


def test_start_crops_query_matches_stop(client: TestClient, services: Services) -> None:
    data = services.data_dir
    assert client.post("/api/start").json() == {"running": True, "stopping": False, "error": None}

    # Crops appear in the gallery, grouped by track: far fewer cards than detections.
    alice = wait_for(lambda: _alice_crop(client, "cam0"), what="a crop of Alice on cam0")
    gallery = _cards(client)
    assert gallery["total"] >= 3
    assert all(1 <= len(c["crops"]) <= 4 for c in gallery["cards"])
    crop = next(c for card in gallery["cards"] for c in card["crops"] if c["crop_id"] == alice)
    assert crop["camera_id"] == "cam0" and crop["frame_name"].endswith(".png") and len(crop["xyxy"]) == 4

    # Select her as the query.
    r = client.post("/api/query/crops", json={"crop_ids": [alice]})
    assert r.status_code == 200, r.text
    query = r.json()
    assert query["label"] == "query" and len(query["images"]) == 1
    assert (data / "query" / "query.jpg").is_file()
    assert [q["query_id"] for q in client.get("/api/query").json()["queries"]] == [query["query_id"]]
    # the view remembers its camera: a sighting on cam1 is a cross-camera decision against it
    assert services.models.gallery.view_camera(query["query_id"], 0) == "cam0"

    # Matches appear on both cameras (the cameras replay in a loop), and nobody else matches.
    def both_cameras() -> set[str] | None:
        cams = {m["camera_id"] for m in client.get("/api/matches").json()["matches"]}
        return cams if cams == set(CAMERAS) else None

    wait_for(both_cameras, what="matches on both cameras")
    page = client.get("/api/matches", params={"camera_id": "cam1"}).json()
    assert page["total"] >= 1 and all(m["camera_id"] == "cam1" for m in page["matches"])
    for m in client.get("/api/matches").json()["matches"]:
        assert m["similarity"] >= 0.8 and m["query_id"] == query["query_id"]
        assert is_colour(client.get(m["thumbnail_url"]).content, ALICE)
    cams = {c["camera_id"]: c for c in client.get("/api/cameras").json()}
    assert all(cams[c]["last_match"]["similarity"] >= 0.8 for c in CAMERAS)
    assert all(cams[c]["state"] == "live" and cams[c]["frames_processed"] > 0 for c in CAMERAS)

    # The brief's folders under the data directory.
    for folder in ("query_images", "detections", "match_detections"):
        assert _files(data / folder), f"nothing saved in {folder}/"
    assert all(is_colour(p.read_bytes(), ALICE) for p in _files(data / "match_detections"))
    # Saving per frame would write one file per observation; per card (new card, then every 10th frame of
    # its track) writes fewer. Compared with the observations, not a fixed count: the cameras loop for as
    # long as the machine needs to show the matches, and a loaded machine drops frames (so fewer
    # observations share a track and a card).
    observations, offset = 0, 0
    while page := client.get("/api/gallery", params={"limit": 100, "offset": offset}).json()["cards"]:
        observations += sum(c["observations"] for c in page)
        offset += len(page)
    assert len(_files(data / "query_images")) < observations, "crops must be saved per card, not per frame"

    assert client.post("/api/stop").json()["running"] is False
    assert {c["state"] for c in client.get("/api/cameras").json()} <= {"stopped", "ended"}

    # Start after Stop works with fresh cameras; the gallery and query are kept.
    assert client.post("/api/start").json()["running"] is True
    assert client.get("/api/query").json()["queries"]
    assert client.post("/api/stop").json()["running"] is False


def test_clear_query_and_new_person(client: TestClient) -> None:
    client.post("/api/start")
    alice = wait_for(lambda: _alice_crop(client, "cam0"), what="Alice")
    client.post("/api/query/crops", json={"crop_ids": [alice]})
    wait_for(lambda: client.get("/api/matches").json()["total"], what="a match")

    assert client.delete("/api/query").json() == {"queries": []}
    assert client.delete("/api/matches").json()["total"] == 0
    cams = client.get("/api/cameras").json()
    assert all(c["last_match"] is None for c in cams)

    # Another person (anyone but Alice), with two views: the gallery grows a second identity only on request.
    other = next(
        c["crop_id"]
        for card in _cards(client)["cards"]
        for c in card["crops"]
        if not is_colour(client.get(c["url"]).content, ALICE)
    )
    q1 = client.post("/api/query/crops", json={"crop_ids": [other], "label": "bob"}).json()
    q2 = client.post("/api/query/crops", json={"crop_ids": [alice], "replace": False}).json()
    labels = [q["label"] for q in client.get("/api/query").json()["queries"]]
    assert labels == ["bob", "query 2"] and q1["query_id"] != q2["query_id"]
    client.post("/api/stop")


def test_threshold_is_read_validated_and_applied(client: TestClient, services: Services) -> None:
    assert client.get("/api/threshold").json() == {
        **{"threshold": 0.8, "version": 0, "default": 0.8, "min": 0.0, "max": 1.0},
        **{"uncertain_band": 0.05, "fmr": None, "tpr": None},  # fmr/tpr: not calibrated
    }
    r = client.put("/api/threshold", json={"threshold": 0.55})
    assert r.status_code == 200 and r.json()["threshold"] == 0.55 and r.json()["version"] == 1
    assert services.models.matcher.settings.threshold == 0.55
    status = client.get("/api/status").json()
    assert status["threshold"] == 0.55 and status["threshold_version"] == 1
    for bad in (1.5, -0.1, "high", None):
        assert client.put("/api/threshold", json={"threshold": bad}).status_code == 422
    assert services.models.matcher.settings.threshold == 0.55
    assert client.get("/api/threshold").json()["version"] == 1, "a refused value is no change"


def test_snapshot_and_mjpeg_stream(client: TestClient) -> None:
    # Stopped, no frame yet: a conflict with the camera's state (409), not a broken server (503).
    early = client.get("/api/cameras/cam0/snapshot.jpg")
    assert early.status_code == 409 and "start detection first" in early.json()["detail"]
    # Before any frame the stream sends a placeholder picture, so the <img> is never blank.
    r = client.get("/api/cameras/cam0/stream.mjpg", params={"max_frames": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
    client.post("/api/start")
    wait_for(lambda: client.get("/api/cameras/cam0/snapshot.jpg").status_code == 200, what="a snapshot")
    snap = client.get("/api/cameras/cam0/snapshot.jpg")
    assert snap.headers["content-type"] == "image/jpeg" and snap.content[:2] == b"\xff\xd8"
    r = client.get("/api/cameras/cam1/stream.mjpg", params={"max_frames": 3, "fps": 30})
    assert r.content.count(b"--reidcamframe\r\nContent-Type: image/jpeg") == 3
    client.post("/api/stop")


def test_openapi_docs_and_static_ui_work_offline(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/cameras",
        "/api/cameras/{camera_id}/stream.mjpg",
        "/api/start",
        "/api/stop",
        "/api/gallery",
        "/api/query/crops",
        "/api/query/upload",
        "/api/matches",
        "/api/threshold",
        "/api/events",
    ):
        assert p in paths, p
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    page = client.get("/")
    assert page.status_code == 200 and "Start detection" in page.text
    for asset in ("/static/script.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    for body in (page.text, client.get("/static/script.js").text, client.get("/static/style.css").text):
        assert "http://" not in body and "https://" not in body, "the UI must not load anything from outside"
