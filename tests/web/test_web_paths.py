"""Every route that serves a file stays inside its folder: no ``..``, encoded or not, no absolute
paths, no NUL bytes, no symlink pointing out.

File routes: /static (the UI), /docs-static (Swagger UI, when installed), /api/crops/<id>.jpg
(gallery, match and query images), /api/identities/<id>/thumbnail.jpg and
/api/sightings/<id>/crop.jpg (identity memory). Requests are sent to the ASGI app with the raw
path a server would pass on (percent-decoded ``path``, undecoded ``raw_path``), because HTTP
clients normalise ``..`` away before sending.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import anyio
import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import ALICE, fake_config

from reidcam.testing import crop_of
from reidcam.web import Services, create_app

SECRET = b"TOP-SECRET-NOT-FOR-THE-WEB"
IDN = "idn_" + "0" * 20
SIG = "sig_" + "0" * 20
#: Ways to say "go up and out": plain, percent-encoded (all or some), doubled, backslashed, absolute, NUL.
ESCAPES = [
    "../secret.txt",
    "../../secret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "..%2fsecret.txt",
    "..%5csecret.txt",
    "....//secret.txt",
    "%252e%252e%252fsecret.txt",
    "/{secret}",
    "%2F{secret_enc}",
    "secret.txt%00.jpg",
    "%00",
]
PREFIXES = ["/static/", "/docs-static/", "/api/crops/", "/api/identities/", "/api/sightings/"]


async def _raw_get(app: FastAPI, raw_path: str) -> tuple[int, bytes]:
    """GET ``raw_path`` exactly as given (no client-side normalisation); (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    received, status, body = False, 0, bytearray()

    async def receive() -> dict:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep(1)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    with anyio.fail_after(10):
        await app(scope, receive, send)
    return status, bytes(body)


@pytest.fixture
def app_and_secret(services: Services, tmp_path: Path) -> tuple[FastAPI, Path]:
    """The app with its data dir in tmp_path/data; a secret file beside it, one level up."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    return create_app(fake_config(), services), secret


def _targets(secret: Path) -> list[str]:
    enc = "%2F".join(secret.as_posix().lstrip("/").split("/"))
    escapes = [e.format(secret=secret.as_posix().lstrip("/"), secret_enc=enc) for e in ESCAPES]
    out = []
    for prefix in PREFIXES:
        for esc in escapes:
            suffix = "/thumbnail.jpg" if prefix == "/api/identities/" else ""
            suffix = "/crop.jpg" if prefix == "/api/sightings/" else suffix
            out.append(prefix + esc + (".jpg" if prefix == "/api/crops/" else suffix))
    return out


def test_no_file_route_serves_a_path_outside_its_folder(app_and_secret: tuple[FastAPI, Path]) -> None:
    app, secret = app_and_secret
    targets = _targets(secret)
    assert len(targets) == len(PREFIXES) * len(ESCAPES)
    for raw in targets:
        status, body = anyio.run(_raw_get, app, raw)
        assert 400 <= status < 500, (raw, status, body[:200])
        assert SECRET not in body, raw
        assert b"root:" not in body, raw
    assert anyio.run(_raw_get, app, "/static/script.js")[0] == 200  # the folder itself still works


def _save_crop(client: TestClient) -> tuple[str, Path]:
    crops = client.app.state.live.crops  # type: ignore[attr-defined]
    record = crops.save("query_images", crop_of(ALICE), "alice")
    assert record is not None
    return record.crop_id, crops.data_dir / record.relpath


def _outside_jpeg(tmp_path: Path) -> Path:
    outside = tmp_path / "outside.jpg"
    ok, buf = cv2.imencode(".jpg", np.full((20, 10, 3), 255, np.uint8))
    assert ok
    outside.write_bytes(buf.tobytes() + SECRET)
    return outside


def test_a_crop_replaced_by_a_symlink_out_of_the_data_dir_is_not_served(
    client: TestClient, tmp_path: Path
) -> None:
    crop_id, path = _save_crop(client)
    assert client.get(f"/api/crops/{crop_id}.jpg").status_code == 200
    path.unlink()
    path.symlink_to(_outside_jpeg(tmp_path))
    r = client.get(f"/api/crops/{crop_id}.jpg")
    assert r.status_code == 404 and SECRET not in r.content


@pytest.mark.parametrize(
    "relpath",
    [
        "../outside.jpg",
        "../../outside.jpg",
        "{outside}",
        "memory/link.jpg",
        "memory/x\0.jpg",
        "memory/../../outside.jpg",
    ],
)
def test_identity_crops_from_the_database_stay_inside_the_data_dir(
    client: TestClient, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relpath: str
) -> None:
    """A row whose crop path points out (a tampered or migrated database) serves nothing: 404, not 500."""
    outside = _outside_jpeg(tmp_path)
    link = services.data_dir / "memory" / "link.jpg"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    rel = relpath.format(outside=outside)
    mem = services.memory
    assert mem is not None
    monkeypatch.setattr(mem, "get_identity", lambda _id: SimpleNamespace(thumbnail=rel))
    monkeypatch.setattr(mem, "get_sighting", lambda _id: SimpleNamespace(crop_path=rel))
    for url in (f"/api/identities/{IDN}/thumbnail.jpg", f"/api/sightings/{SIG}/crop.jpg"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert SECRET not in r.content
