"""The live-feed wire format: round trips, blobs, and refusal of damaged messages."""

from __future__ import annotations

import json
import struct

import pytest

from reidcam.broker.errors import WireFormatError
from reidcam.broker.feed import (
    FeedObservation,
    FrameFeed,
    StatusFeed,
    decision_json,
    decode_frame,
    decode_status,
    encode_frame,
    encode_status,
    frame_subject,
    parse_subject,
    watch_subject,
)
from reidcam.core.types import MatchDecision, Verdict


def _feed(image: bytes | None = b"\xff\xd8jpeg", crop: bytes | None = b"\xff\xd8crop") -> FrameFeed:
    decision = MatchDecision(Verdict.MATCH, "q1", 0.81, "q2", 0.4, 0.7, "above threshold", view=0)
    return FrameFeed(
        camera_id="door.1",
        index=42,
        captured_at=1_700_000_000.25,
        width=1920,
        height=1080,
        worker="w1",
        name="f042.jpg",
        fps=7.5,
        frames_processed=40,
        errors=1,
        timings_ms={"detect": 31.5},
        image_jpeg=image,
        observations=(
            FeedObservation(0, (1.0, 2.0, 30.5, 90.0), 0.9, 3, True, "ok", decision_json(decision), crop),
            FeedObservation(1, (100.0, 2.0, 130.0, 95.0), 0.4, None, False, "too small", None, None),
        ),
    )


def test_frame_round_trip_keeps_every_field_and_blob() -> None:
    feed = _feed()
    back = decode_frame(encode_frame(feed))
    assert back == feed
    assert back.observations[0].decision is not None
    assert back.observations[0].decision["verdict"] == "match"
    assert back.observations[0].crop_jpeg == b"\xff\xd8crop"


def test_frame_without_picture_is_small() -> None:
    data = encode_frame(_feed(image=None, crop=None))
    assert decode_frame(data).image_jpeg is None
    assert len(data) < 1000  # metadata only: what flows while nobody watches


def test_status_round_trip() -> None:
    st = StatusFeed("cam0", "w2", "reconnecting", 10, 2, 3.5, "connection refused", "rtsp://host/x", 5.0)
    assert decode_status(encode_status(st)) == st


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00\x00\x10{}",
        struct.pack(">I", 2) + b"[]",
        struct.pack(">I", 9) + b"not json!",
    ],
)
def test_damaged_messages_are_refused(data: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode_frame(data)


def test_unknown_version_says_to_upgrade() -> None:
    head = json.dumps({"v": 99, "kind": "frame"}).encode()
    with pytest.raises(WireFormatError, match="same reidcam version"):
        decode_frame(struct.pack(">I", len(head)) + head)


def test_blob_outside_the_body_is_refused() -> None:
    data = bytearray(encode_frame(_feed()))
    with pytest.raises(WireFormatError):
        decode_frame(bytes(data[:-3]))  # the crop's last bytes are gone


def test_subjects_round_trip_dotted_ids() -> None:
    assert parse_subject(frame_subject("door.1")) == ("door.1", "frame")
    assert parse_subject(watch_subject("cam0")) == ("cam0", "watch")
    with pytest.raises(WireFormatError):
        parse_subject("other.subject")
