"""Hostile photo uploads on every upload route: a clear 4xx, nothing decoded that should not be.

Each route that takes a photo (the query upload and the identity search by photo) is sent
files that are not images, cut-off JPEGs, decompression bombs (tiny files whose header
claims 60000x60000 pixels) and bodies over ``max_upload_bytes`` (declared, chunked without a
Content-Length, and with a Content-Length that lies). OpenCV must never see a bomb.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from web_support import ALICE, fake_config

from reidcam.reid import enroll as reid_enroll
from reidcam.testing import crop_of
from reidcam.web import Services, create_app
from reidcam.web.uploads import jpeg_is_complete

ROUTES = ("/api/query/upload", "/api/search/photo")
LIMIT = 200_000
BOUNDARY = "reidcamtestboundary"


@pytest.fixture
def limited(services: Services) -> Iterator[TestClient]:
    services.max_upload_bytes = LIMIT
    with TestClient(create_app(fake_config(), services)) as c:
        yield c


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the buffers handed to OpenCV's imdecode (to prove bombs never reach it)."""
    seen: list[int] = []
    real = cv2.imdecode

    def spy(buf: np.ndarray, flags: int) -> np.ndarray | None:
        seen.append(int(buf.size))
        return real(buf, flags)

    monkeypatch.setattr(reid_enroll.cv2, "imdecode", spy)
    return seen


def _jpeg(image: np.ndarray | None = None) -> bytes:
    ok, buf = cv2.imencode(".jpg", crop_of(ALICE) if image is None else image)
    assert ok
    return buf.tobytes()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to claim ``width`` x ``height``."""
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def _bmp_claiming(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 64, 0, 0, 54) + info + b"\0" * 64


def _post_file(c: TestClient, route: str, data: bytes, name: str = "p.jpg", ctype: str = "image/jpeg"):
    return c.post(route, files={"file": (name, data, ctype)})


def _multipart(data: bytes) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def _chunks(body: bytes, size: int = 16_384) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def _assert_refused(r, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert words in r.json()["detail"], r.json()["detail"]


@pytest.mark.parametrize("route", ROUTES)
def test_files_that_are_not_images_get_415(limited: TestClient, decoded: list[int], route: str) -> None:
    _assert_refused(
        _post_file(limited, route, b"%PDF-1.4 not a photo", "a.pdf", "application/pdf"), 415, "not a"
    )
    _assert_refused(
        _post_file(limited, route, b"plain text, says jpeg", "a.jpg"), 415, "not a readable image"
    )
    _assert_refused(_post_file(limited, route, b"GIF89a" + b"\0" * 64, "a.gif", "image/gif"), 415, "readable")
    r = limited.post(route, content=b'{"file": 1}', headers={"content-type": "application/json"})
    _assert_refused(r, 415, "multipart/form-data")
    assert decoded == []
    assert limited.get("/api/query").json() == {"queries": []}


@pytest.mark.parametrize("route", ROUTES)
def test_truncated_jpegs_get_400(limited: TestClient, route: str) -> None:
    whole = _jpeg()
    for cut in (whole[: len(whole) // 2], whole[:-2], whole[:200]):
        _assert_refused(_post_file(limited, route, cut), 400, "truncated")
    assert _post_file(limited, route, whole).status_code == 200


def test_a_truncated_jpeg_with_a_complete_exif_thumbnail_is_still_truncated() -> None:
    """The thumbnail inside APP1 has its own end marker; only the main scan's end counts."""
    main, thumb = _jpeg(), _jpeg(np.zeros((8, 8, 3), np.uint8))
    payload = b"Exif\0\0" + thumb
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    with_thumb = main[:2] + app1 + main[2:]
    assert jpeg_is_complete(with_thumb)
    assert not jpeg_is_complete(with_thumb[: len(main) // 2 + len(app1)])
    assert jpeg_is_complete(main + b"appended motion-photo video")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("bomb", [_png_claiming, _jpeg_claiming, _bmp_claiming])
def test_decompression_bombs_get_413_and_never_reach_opencv(
    limited: TestClient, decoded: list[int], route: str, bomb
) -> None:
    data = bomb(60_000, 60_000)
    assert len(data) < 10_000  # small on disk, 3.6 gigapixels declared
    _assert_refused(_post_file(limited, route, data, "bomb.png", "image/png"), 413, "60000x60000 pixels")
    r = limited.post(route, content=data, headers={"content-type": "image/png"})  # raw body, no form
    _assert_refused(r, 413, "megapixels")
    assert decoded == [], "a bomb was handed to cv2.imdecode"
    assert limited.get("/api/status").status_code == 200


@pytest.mark.parametrize("route", ROUTES)
def test_bodies_over_the_limit_get_413_however_they_are_sent(limited: TestClient, route: str) -> None:
    big = _jpeg() + b"\0" * (LIMIT + 100_000)
    form = _multipart(big)
    mp = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    cases = {
        "declared": limited.post(route, files={"file": ("big.jpg", big, "image/jpeg")}),
        "chunked form": limited.post(route, content=_chunks(form), headers=mp),
        "chunked raw": limited.post(route, content=_chunks(big), headers={"content-type": "image/jpeg"}),
        "lying length, form": limited.post(
            route, content=_chunks(form), headers={**mp, "content-length": "300"}
        ),
        "lying length, raw": limited.post(
            route, content=big, headers={"content-type": "image/jpeg", "content-length": "300"}
        ),
        "huge length": limited.post(
            route, content=b"x", headers={"content-type": "image/jpeg", "content-length": str(10**12)}
        ),
    }
    for how, r in cases.items():
        assert r.status_code == 413, (how, r.text)
        assert "too large" in r.json()["detail"], how
    assert limited.get("/api/query").json() == {"queries": []}
    assert _post_file(limited, route, _jpeg()).status_code == 200  # a normal photo still works after
