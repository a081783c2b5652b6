"""The closed-sighting wire format: round trip, versioning, model check, damaged messages."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from reidcam.broker.errors import ModelMismatchError, WireFormatError
from reidcam.broker.wire import (
    ClosedSighting,
    decode_sighting,
    encode_sighting,
    message_headers,
    new_sighting_id,
)
from reidcam.core.types import Sighting, SightingKey

MODEL = "osnet_x0_25"


def _sighting(**kw) -> ClosedSighting:
    rng = np.random.default_rng(0)
    vec = rng.standard_normal(512).astype(np.float32)
    fields = dict(
        sighting_id=new_sighting_id(),
        camera_id="lobby.east",
        track_id=17,
        part=1,
        first_seen_at=1_764_000_000.25,
        last_seen_at=1_764_000_012.5,
        n_embeddings=9,
        model_id=MODEL,
        prototype=vec / np.linalg.norm(vec),
        crop_ref="crops/lobby.east/17-1.jpg",
        best_crop_quality=0.83,
        worker="w1",
    )
    fields.update(kw)
    return ClosedSighting(**fields)


def test_round_trip_is_exact():
    s = _sighting()
    back = decode_sighting(encode_sighting(s), expect_model_id=MODEL)
    assert back.prototype.dtype == np.float32 and np.array_equal(back.prototype, s.prototype)
    for f in ("sighting_id", "camera_id", "track_id", "part", "first_seen_at", "last_seen_at",
              "n_embeddings", "model_id", "crop_ref", "best_crop_quality", "worker"):  # fmt: skip
        assert getattr(back, f) == getattr(s, f), f
    assert message_headers(s)["Nats-Msg-Id"] == s.sighting_id


def test_body_is_compact_raw_float32():
    s = _sighting()
    body = encode_sighting(s)
    (n,) = struct.unpack(">I", body[:4])
    assert len(body) == 4 + n + 512 * 4 and n < 600
    assert json.loads(body[4 : 4 + n])["v"] == 1


def test_round_trip_without_crop_and_with_float64_input():
    s = _sighting(crop_ref=None, prototype=np.linspace(-1, 1, 256))
    back = decode_sighting(encode_sighting(s))
    assert back.crop_ref is None and back.prototype.shape == (256,) and back.prototype.dtype == np.float32


def test_another_model_is_refused_clearly():
    s = _sighting(model_id="person-reidentification-retail-0288")
    with pytest.raises(ModelMismatchError) as err:
        decode_sighting(encode_sighting(s), expect_model_id=MODEL)
    msg = str(err.value)
    assert "person-reidentification-retail-0288" in msg and MODEL in msg and "lobby.east" in msg
    assert "never compared" in msg


def _rewrite_header(body: bytes, **changes) -> bytes:
    (n,) = struct.unpack(">I", body[:4])
    head = json.loads(body[4 : 4 + n])
    head.update(changes)
    new = json.dumps(head).encode()
    return struct.pack(">I", len(new)) + new + body[4 + n :]


def test_unknown_version_says_to_upgrade():
    body = _rewrite_header(encode_sighting(_sighting()), v=2)
    with pytest.raises(WireFormatError, match=r"wire version 2.*reads version 1"):
        decode_sighting(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00\xff\xff{}", "does not fit"),
        (struct.pack(">I", 3) + b"{x}", "not JSON"),
        (struct.pack(">I", 2) + b"{}", "no kind"),
    ],
)
def test_damaged_messages_are_clear_errors(body, message):
    with pytest.raises(WireFormatError, match=message):
        decode_sighting(body)


def test_truncated_embedding_and_bad_fields():
    body = encode_sighting(_sighting())
    with pytest.raises(WireFormatError, match="embedding is 2044 bytes"):
        decode_sighting(body[:-4])
    with pytest.raises(WireFormatError, match="invalid field"):
        decode_sighting(_rewrite_header(body, track_id="seventeen"))
    with pytest.raises(WireFormatError, match="invalid field"):
        decode_sighting(_rewrite_header(body, last_seen_at=0.0))


@pytest.mark.parametrize(
    "kw",
    [
        {"sighting_id": "has space"},
        {"model_id": ""},
        {"last_seen_at": 1.0},
        {"prototype": np.zeros((2, 4), np.float32)},
        {"prototype": np.array([1.0, np.nan], np.float32)},
    ],
)
def test_invalid_sightings_are_refused_before_sending(kw):
    with pytest.raises(ValueError):
        _sighting(**kw)


def test_from_pipeline_sighting():
    proto = np.full(8, 0.25, np.float32)
    s = Sighting(SightingKey("c1", 4, 0), 10.0, 12.0, 3, proto, MODEL, best_crop_quality=0.5)
    c = ClosedSighting.from_sighting(s, "abc", worker="w2", crop_ref="x.jpg")
    assert (c.camera_id, c.track_id, c.part, c.worker, c.crop_ref) == ("c1", 4, 0, "w2", "x.jpg")
    assert np.array_equal(c.prototype, proto)
    with pytest.raises(ValueError, match="no prototype"):
        ClosedSighting.from_sighting(Sighting(SightingKey("c1", 5), 1.0, 1.0, 0, None, None), "x")


def _best_crop(h: int = 300, w: int = 120):
    from reidcam.core.types import BestCrop

    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 2] = 200  # red
    img[h // 2 :, :, 0] = 200  # blue lower half
    return BestCrop(img, np.array([10, 20, 130, 320], np.float32), 0.9, 42, 1_764_000_005.0, "f042.jpg")


def test_the_best_crop_travels_as_a_small_jpeg_with_where_it_was_cut():
    from reidcam.core.types import Sighting, SightingKey

    vec = np.ones(64, np.float32) / 8.0
    sighting = Sighting(SightingKey("cam1", 3), 1.0, 2.0, n_embeddings=2, prototype=vec, model_id=MODEL,
                        best_crop_quality=0.9, best_crop=_best_crop())  # fmt: skip
    closed = ClosedSighting.from_sighting(sighting, new_sighting_id(), worker="w1", with_crop=True)
    assert closed.crop is not None and len(closed.crop.jpeg) < 20_000
    back = decode_sighting(encode_sighting(closed), expect_model_id=MODEL)
    assert np.array_equal(back.prototype, vec)
    crop = back.crop.to_best()
    assert crop.image.shape == (256, 102, 3)  # scaled to 256 px high, aspect kept
    assert crop.image[10, 50, 2] > 180 and crop.image[250, 50, 0] > 180  # the picture, not noise
    assert (crop.frame_index, crop.captured_at, crop.frame_name, crop.quality) == (
        42,
        1_764_000_005.0,
        "f042.jpg",
        0.9,
    )
    assert crop.xyxy.tolist() == [10, 20, 130, 320]
    without = ClosedSighting.from_sighting(sighting, new_sighting_id())  # the default: no crop
    assert decode_sighting(encode_sighting(without)).crop is None


def test_a_crop_that_does_not_fit_the_header_is_refused():
    from reidcam.broker.wire import WireCrop

    s = _sighting(crop=WireCrop(b"\xff\xd8jpeg", (0.0, 0.0, 1.0, 1.0), 0.5, 1, 2.0))
    data = encode_sighting(s)
    with pytest.raises(WireFormatError, match="6-byte crop"):
        decode_sighting(data[:-1])
    (n,) = struct.unpack(">I", data[:4])
    head = json.loads(data[4 : 4 + n])
    head["crop"]["bytes"] = -3
    raw = json.dumps(head).encode()
    with pytest.raises(WireFormatError, match="crop size"):
        decode_sighting(struct.pack(">I", len(raw)) + raw + data[4 + n :])


def test_a_crop_whose_header_claims_too_many_pixels_is_never_decoded():
    """Any broker client can send a sighting: a JPEG header claiming 60000 x 60000 pixels (a
    decompression bomb) is refused from its header, the sighting stays, without a picture."""
    import cv2

    from reidcam.broker.wire import WireCrop
    from reidcam.core.jpeg import jpeg_size

    ok, real = cv2.imencode(".jpg", np.zeros((200, 80, 3), np.uint8))
    assert ok and jpeg_size(bytes(real)) == (80, 200)
    forged = bytearray(bytes(real))
    at = next(i for i in range(2, len(forged) - 1) if forged[i] == 0xFF and forged[i + 1] == 0xC0)
    forged[at + 5 : at + 9] = struct.pack(">HH", 60000, 60000)
    assert jpeg_size(bytes(forged)) == (60000, 60000)
    bomb = WireCrop(bytes(forged), (0.0, 0.0, 1.0, 1.0), 0.5, 1, 2.0)
    back = decode_sighting(encode_sighting(_sighting(crop=bomb)))
    assert back.crop is not None and back.crop.to_best() is None
    assert WireCrop(bytes(real), (0.0, 0.0, 1.0, 1.0), 0.5, 1, 2.0).to_best().image.shape == (200, 80, 3)
    assert jpeg_size(b"\x89PNG not a jpeg") is None and jpeg_size(b"\xff\xd8\xff\xda") is None
