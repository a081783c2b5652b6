"""Bad requests get a clear 4xx and the server keeps serving; uploads; access control."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from web_support import ALICE, fake_config, png_bytes, scene_frames

from reidcam.testing import crop_of
from reidcam.web import Services, create_app

TOKEN = "s3cret-token-for-tests"


def _upload(client: TestClient, data: bytes, name: str = "p.png", ctype: str = "image/png", **fields: str):
    return client.post("/api/query/upload", files={"file": (name, data, ctype)}, data=fields)


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's calling card)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("get", "/api/cameras/nope", None, 404),
        ("get", "/api/cameras/nope/snapshot.jpg", None, 404),
        ("get", "/api/cameras/nope/stream.mjpg", None, 404),
        ("get", "/api/crops/20260101T000000-1.jpg", None, 404),
        ("get", "/api/crops/..%2F..%2Fetc%2Fpasswd.jpg", None, 404),
        ("get", "/api/crops/%2e%2e.jpg", None, 404),
        ("get", "/api/gallery?limit=0", None, 422),
        ("get", "/api/gallery?offset=-1", None, 422),
        ("get", "/api/matches?since=yesterday", None, 422),
        ("post", "/api/query/crops", {"crop_ids": []}, 422),
        ("post", "/api/query/crops", {"crop_ids": ["20260101T000000-1"]}, 404),
        ("post", "/api/query/crops", {"crop_ids": ["../../query/query"]}, 404),
        ("post", "/api/query/crops", {"crop_ids": ["x"], "label": "y" * 65}, 422),
        ("put", "/api/threshold", {"threshold": 2}, 422),
        ("put", "/api/threshold", {}, 422),
    ],
)
def test_bad_requests_get_4xx_and_a_message(
    client: TestClient, method: str, url: str, body, status: int
) -> None:
    r = getattr(client, method)(url, **({} if body is None else {"json": body}))
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert client.get("/api/status").status_code == 200


def test_bad_uploads_are_refused_clearly(client: TestClient, services: Services) -> None:
    cases = [
        (_upload(client, b"hello, not an image", "notes.txt", "text/plain"), 415, "not a JPEG"),
        (_upload(client, b"hello, not an image", "x.png", "image/png"), 415, "not a readable image"),
        (_upload(client, b""), 400, "empty"),
        (_upload(client, _png_header_only(50_000, 50_000)), 413, "pixels"),
        (_upload(client, _png_header_only(7_000, 7_000)), 413, "7000x7000 pixels"),
        (_upload(client, png_bytes(crop_of(ALICE))[:60]), 400, "not a readable image"),
        (_upload(client, _gif()), 415, "not a readable image"),
        (
            client.post("/api/query/upload", content=b"{}", headers={"content-type": "application/json"}),
            415,
            "multipart",
        ),
        (
            client.post("/api/query/upload", files={"other": ("a.png", b"x", "image/png")}),
            400,
            "field 'file'",
        ),
    ]
    for r, status, words in cases:
        assert r.status_code == status, r.text
        assert words in r.json()["detail"], r.json()["detail"]
    services.max_upload_bytes = 1000
    r = _upload(client, png_bytes(np.random.default_rng(0).integers(0, 255, (100, 100, 3), np.uint8)))
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    assert client.get("/api/query").json() == {"queries": []}
    assert client.get("/api/status").status_code == 200


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    return buf.getvalue()


def test_upload_of_a_crop_uses_the_whole_photo(client: TestClient, services: Services) -> None:
    _, jpg = cv2.imencode(".jpg", np.pad(crop_of(ALICE), ((2, 2), (2, 2), (0, 0)), constant_values=40))
    r = _upload(client, jpg.tobytes(), "alice.jpg", "image/jpeg", label="Alice")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["used"] == "whole_image" and body["query"]["label"] == "Alice"
    assert (services.data_dir / "query" / "query.jpg").is_file()
    assert len(services.models.gallery) == 1


def test_upload_of_a_scene_uses_the_largest_person(client: TestClient) -> None:
    frame = scene_frames("cam0")[10]  # Alice and Bob
    r = client.post("/api/query/upload", content=png_bytes(frame), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["used"] == "largest_person_box" and len(body["box"]) == 4
    assert "largest" in body["message"]


def test_token_is_required_on_api_and_streams_when_set(make_services: Callable[..., Services]) -> None:
    with TestClient(create_app(fake_config(), make_services(token=TOKEN))) as c:
        assert c.get("/").status_code == 401  # the token form (see test_web_access.py)
        for url in (
            "/api/status",
            "/api/cameras/cam0/stream.mjpg?max_frames=1",
            "/api/events",
            "/api/gallery",
        ):
            r = c.get(url)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", url
        assert c.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/status", params={"token": TOKEN + "x"}).status_code == 401
        assert c.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert (
            c.get("/api/cameras/cam0/stream.mjpg", params={"token": TOKEN, "max_frames": 1}).status_code
            == 200
        )
        assert c.post("/api/stop", params={"token": TOKEN}).status_code == 200


def test_cross_origin_writes_are_refused(client: TestClient) -> None:
    r = client.post("/api/start", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    assert client.get("/api/status").json()["running"] is False
    assert client.post("/api/stop", headers={"Origin": "http://testserver"}).status_code == 200


def test_unknown_host_header_is_refused_when_hosts_are_pinned(make_services: Callable[..., Services]) -> None:
    app = create_app(fake_config(), make_services(allowed_hosts=["127.0.0.1", "localhost"]))
    with TestClient(app, base_url="http://rebound.example") as c:
        assert c.get("/api/status").status_code == 400
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/api/status").status_code == 200


def test_start_failure_is_reported_and_the_server_keeps_serving(
    make_services: Callable[..., Services],
) -> None:
    from reidcam.core.errors import SourceError

    def broken() -> list:
        raise SourceError("camera 'cam0': video file /nowhere.mp4 does not exist")

    with TestClient(create_app(fake_config(), make_services(build_cameras=broken))) as c:
        r = c.post("/api/start")
        assert r.status_code == 400 and "does not exist" in r.json()["detail"]
        assert c.get("/api/status").json()["running"] is False


def test_header_check_is_immune_to_ultralytics_patching_pillow() -> None:
    """Regression: Ultralytics replaces PIL.Image.open with one that pip-installs a HEIF plugin on
    unknown files; a garbage upload then gave a 500 instead of a 415."""
    from fastapi import HTTPException

    from reidcam.web.uploads import check_header

    pytest.importorskip("ultralytics.utils.patches")
    with pytest.raises(HTTPException) as err:
        check_header(b"definitely not an image, just text" * 10)
    assert err.value.status_code == 415
    assert check_header(png_bytes(crop_of(ALICE))) == (40, 100)
