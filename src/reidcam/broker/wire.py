"""The wire format of a closed sighting on the broker, version 1.

A message body is::

    4 bytes   big-endian uint32 N: length of the JSON header
    N bytes   UTF-8 JSON header: {"v": 1, "kind": "sighting", "sighting_id", "camera_id",
              "track_id", "part", "first_seen_at", "last_seen_at", "n_embeddings",
              "model_id", "dim", "dtype": "<f4", "crop_ref", "best_crop_quality", "worker"}
    dim*4     the prototype embedding, float32 little-endian
    C bytes   the best crop as a JPEG, when the header has "crop": {"bytes": C, "xyxy",
              "quality", "frame_index", "captured_at", "frame_name"} (optional)

The best crop travels with the sighting (a small JPEG, 10-20 KB) because the identity memory
and the pages that show its people run elsewhere: the memory service keeps it where it keeps its
crops, and answers a web server's request for it (``CROP_SUBJECT``).

The embedding travels as raw float32 (2 KB for 512-d), not as JSON numbers or base64: it is the
bulk of the message and is decoded without a copy. The JSON header carries everything else, so a
new optional field does not need a new version; a reader refuses a version it does not know with
an error that says to upgrade. ``model_id`` is checked by the reader (:func:`decode_sighting`):
embeddings of different ReID models are never compared, so a sighting from a worker running
another model is refused, not stored.
"""

from __future__ import annotations

import json
import math
import re
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.broker.errors import ModelMismatchError, WireFormatError
from reidcam.core.jpeg import jpeg_size
from reidcam.core.types import BestCrop, Sighting

WIRE_VERSION = 1
KIND = "sighting"
#: NATS headers set on every sighting message (besides ``Nats-Msg-Id``).
HEADER_WIRE = "Reidcam-Wire"
HEADER_MODEL = "Reidcam-Model"
_LEN = struct.Struct(">I")
_MAX_HEADER = 64 * 1024
_MAX_DIM = 8192
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_MAX_CROP = 1024 * 1024
#: Web servers ask the memory services for a stored crop here (request: its path, reply: JPEG).
CROP_SUBJECT = "reidcam.crops.get"


#: The most pixels a sighting's crop may claim (a worker sends at most 256 px high ones).
MAX_CROP_PIXELS = 1024 * 1024


@dataclass(frozen=True, eq=False)
class WireCrop:
    """A sighting's best crop on the wire: ``jpeg`` and where it was cut from (``BestCrop``)."""

    jpeg: bytes
    xyxy: tuple[float, float, float, float]
    quality: float
    frame_index: int
    captured_at: float
    frame_name: str | None = None

    @classmethod
    def from_best(cls, crop: BestCrop, max_height: int = 256, quality: int = 85) -> WireCrop | None:
        """The crop as a JPEG at most ``max_height`` pixels high; None when it cannot be encoded."""
        image: NDArray[Any] = crop.image
        h, w = image.shape[:2]
        if h > max_height:
            image = cv2.resize(
                image, (max(1, round(w * max_height / h)), max_height), interpolation=cv2.INTER_AREA
            )
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            return None
        x1, y1, x2, y2 = (float(v) for v in crop.xyxy[:4])
        return cls(bytes(buf), (x1, y1, x2, y2), float(crop.quality), int(crop.frame_index),
                   float(crop.captured_at), crop.frame_name)  # fmt: skip

    def to_best(self) -> BestCrop | None:
        """The crop as the memory keeps it; None when it is not a JPEG of at most
        ``MAX_CROP_PIXELS`` (checked in its header before decoding: any broker client can send
        one) or does not decode."""
        size = jpeg_size(self.jpeg)
        if size is None or not 0 < size[0] * size[1] <= MAX_CROP_PIXELS:
            return None
        image = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        return BestCrop(np.asarray(image, np.uint8), np.asarray(self.xyxy, np.float32), self.quality,
                        self.frame_index, self.captured_at, self.frame_name)  # fmt: skip

    def header(self) -> dict[str, object]:
        return {"bytes": len(self.jpeg), "xyxy": list(self.xyxy), "quality": self.quality,
                "frame_index": self.frame_index, "captured_at": self.captured_at,
                "frame_name": self.frame_name}  # fmt: skip


@dataclass(frozen=True, eq=False)
class ClosedSighting:
    """One closed sighting as it crosses the broker.

    Attributes:
        sighting_id: unique, minted by the worker that closed it (``new_sighting_id``); also the
            message id, so a re-sent sighting is de-duplicated by the broker and the memory.
        camera_id, track_id, part: the ``SightingKey``.
        first_seen_at, last_seen_at: epoch seconds.
        n_embeddings: good crops that fed the prototype.
        model_id: the ReID model that embedded it.
        prototype: (D,) float32, the sighting's robust-mean embedding.
        crop_ref: where the best crop is kept (a path relative to the worker's crop store, or a
            URL), None when none was kept (unused by reidcam's own workers: they send ``crop``).
        best_crop_quality: crop-gate score of that crop, [0, 1].
        worker: the name of the worker that closed it.
        crop: the best crop itself (a small JPEG), None when there was none.
    """

    sighting_id: str
    camera_id: str
    track_id: int
    part: int
    first_seen_at: float
    last_seen_at: float
    n_embeddings: int
    model_id: str
    prototype: NDArray[np.float32]
    crop_ref: str | None = None
    best_crop_quality: float = 0.0
    worker: str = ""
    crop: WireCrop | None = None

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.sighting_id):
            raise ValueError(f"sighting_id {self.sighting_id!r} must be 1-128 of A-Z a-z 0-9 _ . : -")
        if not self.camera_id or not self.model_id:
            raise ValueError("ClosedSighting needs a camera_id and a model_id")
        if not (math.isfinite(self.first_seen_at) and math.isfinite(self.last_seen_at)):
            raise ValueError("ClosedSighting times must be finite epoch seconds")
        if self.last_seen_at < self.first_seen_at:
            raise ValueError("ClosedSighting.last_seen_at is before first_seen_at")
        vec = np.asarray(self.prototype)
        if vec.ndim != 1 or not 0 < vec.size <= _MAX_DIM or not np.issubdtype(vec.dtype, np.floating):
            raise ValueError(f"ClosedSighting.prototype must be a (D,) float vector, 0 < D <= {_MAX_DIM}")
        vec = np.ascontiguousarray(vec, dtype=np.float32)
        if not np.isfinite(vec).all():
            raise ValueError("ClosedSighting.prototype has non-finite values")
        object.__setattr__(self, "prototype", vec)

    @classmethod
    def from_sighting(
        cls,
        sighting: Sighting,
        sighting_id: str,
        *,
        worker: str = "",
        crop_ref: str | None = None,
        with_crop: bool = False,
    ) -> ClosedSighting:
        """The wire form of a pipeline ``Sighting``.

        Raises:
            ValueError: the sighting has no prototype or no model id (nothing to match on).
        """
        if sighting.prototype is None or sighting.model_id is None:
            raise ValueError(f"sighting {sighting.key} has no prototype yet: nothing to publish")
        key = sighting.key
        return cls(
            sighting_id=sighting_id,
            camera_id=key.camera_id,
            track_id=key.track_id,
            part=key.part,
            first_seen_at=sighting.first_seen_at,
            last_seen_at=sighting.last_seen_at,
            n_embeddings=sighting.n_embeddings,
            model_id=sighting.model_id,
            prototype=np.asarray(sighting.prototype, np.float32).reshape(-1),
            crop_ref=crop_ref,
            best_crop_quality=sighting.best_crop_quality,
            worker=worker,
            crop=WireCrop.from_best(sighting.best_crop) if with_crop and sighting.best_crop else None,
        )


def encode_sighting(s: ClosedSighting) -> bytes:
    """The message body of ``s`` (format in the module docstring)."""
    header = {
        "v": WIRE_VERSION,
        "kind": KIND,
        "sighting_id": s.sighting_id,
        "camera_id": s.camera_id,
        "track_id": int(s.track_id),
        "part": int(s.part),
        "first_seen_at": float(s.first_seen_at),
        "last_seen_at": float(s.last_seen_at),
        "n_embeddings": int(s.n_embeddings),
        "model_id": s.model_id,
        "dim": int(s.prototype.size),
        "dtype": "<f4",
        "crop_ref": s.crop_ref,
        "best_crop_quality": float(s.best_crop_quality),
        "worker": s.worker,
    }
    if s.crop is not None:
        header["crop"] = s.crop.header()
    head = json.dumps(header, separators=(",", ":")).encode()
    crop = s.crop.jpeg if s.crop is not None else b""
    return _LEN.pack(len(head)) + head + s.prototype.astype("<f4", copy=False).tobytes() + crop


def decode_sighting(data: bytes, expect_model_id: str | None = None) -> ClosedSighting:
    """Read a message body back into a :class:`ClosedSighting`.

    Args:
        data: the body as published by :func:`encode_sighting`.
        expect_model_id: the ReID model of the reader's memory; None accepts any.

    Raises:
        ModelMismatchError: the sighting was embedded by another model than ``expect_model_id``.
        WireFormatError: truncated, not this format, or a version this reidcam cannot read.
    """
    head = _header(data)
    sid = head.get("sighting_id", "?")
    if expect_model_id is not None and head.get("model_id") != expect_model_id:
        raise ModelMismatchError(
            f"sighting {sid} from camera {head.get('camera_id')!r} (worker {head.get('worker') or '?'}) was "
            f"embedded by ReID model {head.get('model_id')!r}, but this memory holds {expect_model_id!r}: "
            f"embeddings of different models are never compared; run every worker with reid.model "
            f"{expect_model_id!r}"
        )
    dim = head.get("dim")
    body = memoryview(data)[_LEN.size + _LEN.unpack_from(data)[0] :]
    crop_head = head.get("crop")
    crop_len = crop_head.get("bytes") if isinstance(crop_head, dict) else 0
    if not isinstance(crop_len, int) or not 0 <= crop_len <= _MAX_CROP:
        raise WireFormatError(f"sighting {sid}: the crop size {crop_len!r} is not valid")
    if head.get("dtype") != "<f4" or not isinstance(dim, int) or len(body) != dim * 4 + crop_len:
        what = "embedding is" if not crop_len else "embedding and crop are"
        crop = f" and a {crop_len}-byte crop" if crop_len else ""
        raise WireFormatError(
            f"sighting {sid}: the {what} {len(body)} bytes, the header says {dim} x {head.get('dtype')}{crop}"
        )
    try:
        return ClosedSighting(
            sighting_id=head["sighting_id"],
            camera_id=head["camera_id"],
            track_id=int(head["track_id"]),
            part=int(head["part"]),
            first_seen_at=float(head["first_seen_at"]),
            last_seen_at=float(head["last_seen_at"]),
            n_embeddings=int(head["n_embeddings"]),
            model_id=head["model_id"],
            prototype=np.frombuffer(body[: dim * 4], dtype="<f4").astype(np.float32),
            crop_ref=head.get("crop_ref"),
            best_crop_quality=float(head.get("best_crop_quality", 0.0)),
            worker=str(head.get("worker", "")),
            crop=_crop(crop_head, bytes(body[dim * 4 :]))
            if crop_len and isinstance(crop_head, dict)
            else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireFormatError(f"sighting {sid}: invalid field: {exc}") from exc


def _crop(head: dict[str, Any], jpeg: bytes) -> WireCrop:
    x1, y1, x2, y2 = (float(v) for v in head["xyxy"])
    name = head.get("frame_name")
    return WireCrop(jpeg, (x1, y1, x2, y2), float(head["quality"]), int(head["frame_index"]),
                    float(head["captured_at"]), None if name is None else str(name))  # fmt: skip


def _header(data: bytes) -> dict[str, Any]:
    if len(data) < _LEN.size:
        raise WireFormatError(f"not a reidcam sighting: {len(data)} bytes is too short")
    (n,) = _LEN.unpack_from(data)
    if n > _MAX_HEADER or _LEN.size + n > len(data):
        raise WireFormatError("not a reidcam sighting: the header length does not fit the message")
    try:
        head = json.loads(bytes(data[_LEN.size : _LEN.size + n]))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireFormatError(f"not a reidcam sighting: the header is not JSON ({exc})") from exc
    if not isinstance(head, dict) or head.get("kind") != KIND:
        raise WireFormatError("not a reidcam sighting: the header has no kind 'sighting'")
    if head.get("v") != WIRE_VERSION:
        raise WireFormatError(
            f"sighting {head.get('sighting_id', '?')} is in wire version {head.get('v')!r}; this reidcam "
            f"reads version {WIRE_VERSION}: run the same reidcam version on workers and the memory service"
        )
    return head


def message_headers(s: ClosedSighting) -> dict[str, str]:
    """NATS headers of ``s``'s message: the de-duplication id, wire version and model."""
    return {"Nats-Msg-Id": s.sighting_id, HEADER_WIRE: f"{KIND}/{WIRE_VERSION}", HEADER_MODEL: s.model_id}


def new_sighting_id() -> str:
    """A fresh sighting id (32 hex digits): unique across workers without coordination."""
    return uuid.uuid4().hex
