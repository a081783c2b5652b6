"""The live feed of a camera on the broker: per-frame overlays and decisions, version 1.

Frames stay on the worker. What crosses, per processed frame, on the plain (not JetStream)
subject ``reidcam.cameras.<camera_id>.frame``, is the frame's metadata and observations (boxes,
track ids, crop-gate verdicts, match decisions) — a few hundred bytes — plus, only when asked:

- ``crop`` JPEGs of some observations (the gallery's cards: a track's first crop, then one every
  few frames, and one when its decision changes), so that the page can show and pick people;
- the frame itself as a JPEG (downscaled) while somebody watches that camera: a web server
  publishes ``reidcam.cameras.<camera_id>.watch`` pings while a page shows it, and the worker
  adds the picture for ``WATCH_FOR_S`` after the last ping.

Camera health travels on ``reidcam.cameras.<camera_id>.status`` (JSON) on every status
change, so a camera that fails (and sends no frame) is still shown with its reason.

Body of a ``frame`` message::

    4 bytes   big-endian uint32 N: length of the JSON header
    N bytes   UTF-8 JSON header (see ``FrameFeed``); every blob named by ``[offset, length]``
    ...       the blobs (frame JPEG, crop JPEGs), concatenated

Plain subjects, not a stream: a live overlay that arrives late is worthless, and the durable
record of what happened is the closed sighting on ``REIDCAM_SIGHTINGS``.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from reidcam.broker.errors import WireFormatError
from reidcam.broker.leases import camera_key

FEED_VERSION = 1
#: How long a ``watch`` ping keeps the frame pictures coming.
WATCH_FOR_S = 6.0
#: A web server re-sends its pings this often (well inside ``WATCH_FOR_S``).
WATCH_EVERY_S = 2.0
_LEN = struct.Struct(">I")
_MAX_HEADER = 1024 * 1024
_STATUS_FIELDS = ("state", "frames_read", "reconnects", "last_frame_age_s", "last_error", "description")
_DECISION_FIELDS = (
    "verdict",
    "query_id",
    "similarity",
    "runner_up_id",
    "runner_up_similarity",
    "threshold",
    "reason",
    "view",
    "runner_up_view",
    "threshold_why",
)

#: Every camera's feed subjects (``*`` would miss camera ids with dots): split with ``parse_subject``.
CAMERA_SUBJECTS = "reidcam.cameras.>"


def frame_subject(camera_id: str) -> str:
    return f"reidcam.cameras.{camera_key(camera_id)}.frame"


def status_subject(camera_id: str) -> str:
    return f"reidcam.cameras.{camera_key(camera_id)}.status"


def watch_subject(camera_id: str) -> str:
    return f"reidcam.cameras.{camera_key(camera_id)}.watch"


def parse_subject(subject: str) -> tuple[str, str]:
    """``reidcam.cameras.<id>.<kind>`` -> (``<id>``, ``<kind>``); camera ids may hold single dots."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != "reidcam" or parts[1] != "cameras":
        raise WireFormatError(f"not a camera subject: {subject!r}")
    return ".".join(parts[2:-1]), parts[-1]


@dataclass(frozen=True)
class FeedObservation:
    """One detection as the page needs it. ``decision``: ``MatchDecision`` fields as JSON values
    (``verdict`` its string value), None before anything was embedded; ``crop_jpeg`` only when
    the worker sent this observation's crop."""

    detection_index: int
    xyxy: tuple[float, float, float, float]
    confidence: float
    track_id: int | None
    quality_ok: bool
    quality_reason: str
    decision: dict[str, Any] | None = None
    crop_jpeg: bytes | None = None


@dataclass(frozen=True)
class FrameFeed:
    """One processed frame of one camera, as it crosses the broker.

    ``width``/``height``: of the camera's frame (boxes are in those pixels, whatever the size of
    ``image_jpeg``); ``fps``: the worker's processing rate for this camera; ``frames_processed``
    and ``errors``: its counters; ``image_jpeg``: the picture, only while watched.
    """

    camera_id: str
    index: int
    captured_at: float
    width: int
    height: int
    worker: str
    observations: tuple[FeedObservation, ...] = ()
    name: str | None = None
    fps: float = 0.0
    frames_processed: int = 0
    errors: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    image_jpeg: bytes | None = None


@dataclass(frozen=True)
class StatusFeed:
    """A camera's health (``SourceStatus`` fields) and who runs it."""

    camera_id: str
    worker: str
    state: str
    frames_read: int = 0
    reconnects: int = 0
    last_frame_age_s: float | None = None
    last_error: str | None = None
    description: str = ""
    at: float = 0.0


def decision_json(decision: Any) -> dict[str, Any] | None:
    """A ``MatchDecision`` (or None) as the feed's JSON form."""
    if decision is None:
        return None
    out = {name: getattr(decision, name) for name in _DECISION_FIELDS}
    out["verdict"] = getattr(out["verdict"], "value", out["verdict"])
    return out


def encode_frame(feed: FrameFeed) -> bytes:
    blobs: list[bytes] = []
    offset = 0

    def blob(data: bytes | None) -> list[int] | None:
        nonlocal offset
        if data is None:
            return None
        span = [offset, len(data)]
        blobs.append(data)
        offset += len(data)
        return span

    header = {
        "v": FEED_VERSION,
        "kind": "frame",
        "camera_id": feed.camera_id,
        "index": feed.index,
        "captured_at": feed.captured_at,
        "name": feed.name,
        "width": feed.width,
        "height": feed.height,
        "worker": feed.worker,
        "fps": feed.fps,
        "frames_processed": feed.frames_processed,
        "errors": feed.errors,
        "timings_ms": feed.timings_ms,
        "image": blob(feed.image_jpeg),
        "observations": [
            {
                "i": o.detection_index,
                "xyxy": [float(v) for v in o.xyxy],
                "conf": o.confidence,
                "track": o.track_id,
                "ok": o.quality_ok,
                "why": o.quality_reason,
                "decision": o.decision,
                "crop": blob(o.crop_jpeg),
            }
            for o in feed.observations
        ],
    }
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return _LEN.pack(len(head)) + head + b"".join(blobs)


def decode_frame(data: bytes) -> FrameFeed:
    """Raises ``WireFormatError`` for a damaged message or an unknown version."""
    h, body = _header(data, "frame")
    try:
        observations = tuple(
            FeedObservation(
                detection_index=int(o["i"]),
                xyxy=_box(o["xyxy"]),
                confidence=float(o["conf"]),
                track_id=None if o["track"] is None else int(o["track"]),
                quality_ok=bool(o["ok"]),
                quality_reason=str(o["why"]),
                decision=_decision(o.get("decision")),
                crop_jpeg=_blob(body, o.get("crop")),
            )
            for o in h["observations"]
        )
        return FrameFeed(
            camera_id=_text(h["camera_id"]),
            index=int(h["index"]),
            captured_at=_finite(h["captured_at"]),
            name=None if h.get("name") is None else str(h["name"]),
            width=int(h["width"]),
            height=int(h["height"]),
            worker=str(h.get("worker") or ""),
            fps=_finite(h.get("fps", 0.0)),
            frames_processed=int(h.get("frames_processed", 0)),
            errors=int(h.get("errors", 0)),
            timings_ms={str(k): float(v) for k, v in (h.get("timings_ms") or {}).items()},
            image_jpeg=_blob(body, h.get("image")),
            observations=observations,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireFormatError(f"damaged frame message: {exc!r}") from exc


def encode_status(feed: StatusFeed) -> bytes:
    header = {"v": FEED_VERSION, "kind": "status", "camera_id": feed.camera_id, "worker": feed.worker,
              "at": feed.at, **{k: getattr(feed, k) for k in _STATUS_FIELDS}}  # fmt: skip
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return _LEN.pack(len(head)) + head


def decode_status(data: bytes) -> StatusFeed:
    h, _ = _header(data, "status")
    try:
        age = h.get("last_frame_age_s")
        return StatusFeed(
            camera_id=_text(h["camera_id"]),
            worker=str(h.get("worker") or ""),
            state=_text(h["state"]),
            frames_read=int(h.get("frames_read", 0)),
            reconnects=int(h.get("reconnects", 0)),
            last_frame_age_s=None if age is None else _finite(age),
            last_error=None if h.get("last_error") is None else str(h["last_error"]),
            description=str(h.get("description") or ""),
            at=_finite(h.get("at", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireFormatError(f"damaged status message: {exc!r}") from exc


def _header(data: bytes, kind: str) -> tuple[dict[str, Any], memoryview]:
    if len(data) < _LEN.size:
        raise WireFormatError(f"{kind} message of {len(data)} bytes is too short")
    (n,) = _LEN.unpack_from(data)
    if n > _MAX_HEADER or _LEN.size + n > len(data):
        raise WireFormatError(f"{kind} message header length {n} does not fit its {len(data)} bytes")
    try:
        h = json.loads(bytes(data[_LEN.size : _LEN.size + n]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireFormatError(f"{kind} message header is not JSON: {exc}") from exc
    if not isinstance(h, dict):
        raise WireFormatError(f"{kind} message header is not a JSON object")
    if h.get("v") != FEED_VERSION:
        raise WireFormatError(
            f"{kind} message of feed version {h.get('v')!r}, this reidcam reads {FEED_VERSION}: "
            "run the same reidcam version on workers and web servers"
        )
    if h.get("kind") != kind:
        raise WireFormatError(f"expected a {kind} message, got {h.get('kind')!r}")
    return h, memoryview(data)[_LEN.size + n :]


def _blob(body: memoryview, span: object) -> bytes | None:
    if span is None:
        return None
    if not isinstance(span, list) or len(span) != 2:
        raise ValueError(f"blob span {span!r}")
    start, length = int(span[0]), int(span[1])
    if start < 0 or length < 0 or start + length > len(body):
        raise ValueError(f"blob [{start}, {length}] outside the {len(body)} bytes of the body")
    return bytes(body[start : start + length])


def _box(v: object) -> tuple[float, float, float, float]:
    if not isinstance(v, list) or len(v) != 4:
        raise ValueError(f"box {v!r}")
    a, b, c, d = (_finite(x) for x in v)
    return a, b, c, d


def _decision(v: object) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict) or "verdict" not in v or "similarity" not in v:
        raise ValueError(f"decision {v!r}")
    return {k: v.get(k) for k in _DECISION_FIELDS}


def _finite(v: object) -> float:
    x = float(v)  # type: ignore[arg-type]
    if not math.isfinite(x):
        raise ValueError(f"{v!r} is not finite")
    return x


def _text(v: object) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"{v!r} is not a non-empty string")
    return v
