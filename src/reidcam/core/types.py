"""Frozen, validated data passed between pipeline stages.

Conventions: boxes are ``xyxy`` float32 pixels of the original frame, images
are BGR uint8 HWC, ``*_at`` are epoch seconds, similarities are higher-is-better.
Every type checks shape, dtype and finiteness when it is built, so a bad value
is caught at the stage that produced it rather than three stages later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
IntArray = NDArray[np.int64]


def _as_array(value: object, dtype: type, name: str) -> np.ndarray:
    arr: np.ndarray = np.asarray(value, dtype=dtype)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _boxes(value: object, name: str) -> np.ndarray:
    arr = _as_array(value, np.float32, name)
    return arr.reshape(0, 4) if arr.size == 0 else arr


def _check_boxes(xyxy: np.ndarray, name: str) -> None:
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {xyxy.shape}")
    if np.any(xyxy[:, 2] < xyxy[:, 0]) or np.any(xyxy[:, 3] < xyxy[:, 1]):
        raise ValueError(f"{name} has boxes with x2 < x1 or y2 < y1")


def _check_len(arr: np.ndarray, n: int, name: str) -> None:
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded image from one camera.

    Attributes:
        camera_id: id of the camera from the config.
        index: 0-based frame counter of this source (counts frames read, not shown).
        image: BGR uint8 array of shape (H, W, 3).
        captured_at: epoch seconds when the frame was read.
        name: file name for image-folder sources, else None.
    """

    camera_id: str
    index: int
    image: NDArray[np.uint8]
    captured_at: float
    name: str | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            raise ValueError("Frame.image must be a uint8 numpy array")
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"Frame.image must have shape (H, W, 3), got {img.shape}")
        if not self.camera_id:
            raise ValueError("Frame.camera_id must not be empty")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, eq=False)
class Detections:
    """Person boxes found in one frame: ``xyxy`` (N, 4) float32, ``confidence`` (N,) float32."""

    xyxy: FloatArray
    confidence: FloatArray

    def __post_init__(self) -> None:
        xyxy = _boxes(self.xyxy, "Detections.xyxy")
        conf = _as_array(self.confidence, np.float32, "Detections.confidence").reshape(-1)
        _check_boxes(xyxy, "Detections.xyxy")
        _check_len(conf, len(xyxy), "Detections.confidence")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def select(self, mask: NDArray[np.bool_]) -> Detections:
        return Detections(self.xyxy[mask], self.confidence[mask])


@dataclass(frozen=True, eq=False)
class Tracks:
    """Confirmed tracks of one camera in one frame.

    Attributes:
        track_id: (N,) int64 ids, unique within one camera's tracker instance.
        xyxy: (N, 4) float32 boxes (the tracker's estimate).
        confidence: (N,) float32 detection confidence.
        detection_index: (N,) int64 index into the frame's Detections, -1 when
            the track has no detection in this frame.
    """

    track_id: IntArray
    xyxy: FloatArray
    confidence: FloatArray
    detection_index: IntArray

    def __post_init__(self) -> None:
        xyxy = _boxes(self.xyxy, "Tracks.xyxy")
        n = len(xyxy)
        ids = _as_array(self.track_id, np.int64, "Tracks.track_id").reshape(-1)
        conf = _as_array(self.confidence, np.float32, "Tracks.confidence").reshape(-1)
        det = _as_array(self.detection_index, np.int64, "Tracks.detection_index").reshape(-1)
        _check_boxes(xyxy, "Tracks.xyxy")
        for arr, name in ((ids, "track_id"), (conf, "confidence"), (det, "detection_index")):
            _check_len(arr, n, f"Tracks.{name}")
        if len(set(ids.tolist())) != n:
            raise ValueError("Tracks.track_id must be unique within a frame")
        for attr, arr in (("xyxy", xyxy), ("track_id", ids), ("confidence", conf)):
            object.__setattr__(self, attr, arr)
        object.__setattr__(self, "detection_index", det)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Tracks:
        z = np.zeros((0,), np.int64)
        return cls(z, np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), z)


@dataclass(frozen=True, eq=False)
class Embeddings:
    """A batch of L2-normalised ReID vectors: ``vectors`` (N, D) float32 from model ``model_id``."""

    vectors: FloatArray
    model_id: str

    def __post_init__(self) -> None:
        vec = _as_array(self.vectors, np.float32, "Embeddings.vectors")
        if vec.ndim != 2:
            raise ValueError(f"Embeddings.vectors must have shape (N, D), got {vec.shape}")
        if not self.model_id:
            raise ValueError("Embeddings.model_id must not be empty")
        norms = np.linalg.norm(vec, axis=1)
        if len(vec) and not np.allclose(norms, 1.0, atol=1e-3):
            raise ValueError("Embeddings.vectors must be L2-normalised")
        object.__setattr__(self, "vectors", vec)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def empty(cls, dim: int, model_id: str) -> Embeddings:
        return cls(np.zeros((0, dim), np.float32), model_id)


def l2_normalize(vectors: NDArray[np.floating], eps: float = 1e-12) -> FloatArray:
    """Row-wise L2 normalisation to float32; zero rows stay zero-free by eps."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return np.asarray(arr / np.maximum(norms, eps), dtype=np.float32)


class Verdict(str, Enum):
    """Three-way outcome: a confident match, a close call, or no match."""

    MATCH = "match"
    UNCERTAIN = "uncertain"
    NO_MATCH = "no_match"


@dataclass(frozen=True)
class MatchDecision:
    """Why a sighting was (not) matched to a query identity.

    ``similarity`` is cosine similarity in [-1, 1] to the best query; the
    runner-up fields describe the second-best distinct query, if any. ``view`` and
    ``runner_up_view`` index the stored view (query image) of each identity that gave
    its score: the evidence a person can look at to check the verdict. ``threshold_why``
    says why ``threshold`` applied (the camera's self-calibration, the model's default, the
    user's choice) and, when the camera cannot separate people, why a match became uncertain.
    """

    verdict: Verdict
    query_id: str | None
    similarity: float
    runner_up_id: str | None
    runner_up_similarity: float | None
    threshold: float
    reason: str
    view: int | None = None
    runner_up_view: int | None = None
    threshold_why: str = ""

    @property
    def matched(self) -> bool:
        return self.verdict is Verdict.MATCH


@dataclass(frozen=True)
class SightingKey:
    """One person on one camera: a track from its first to its last frame.

    ``part`` counts the pieces a track was split into when its appearance
    changed abruptly (the tracker swapped two people).
    """

    camera_id: str
    track_id: int
    part: int = 0


@dataclass(frozen=True, eq=False)
class BestCrop:
    """The best view of a sighting so far: what the timeline shows and storage keeps.

    Attributes:
        image: BGR uint8 (H, W, 3) crop.
        xyxy: (4,) float32 box in the frame it was cut from.
        quality: crop-gate score in [0, 1], higher is better.
        frame_index: index of that frame in its source.
        captured_at: epoch seconds of that frame.
        frame_name: file name for image-folder sources, else None.
    """

    image: NDArray[np.uint8]
    xyxy: FloatArray
    quality: float
    frame_index: int
    captured_at: float
    frame_name: str | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError("BestCrop.image must be a uint8 (H, W, 3) array")
        box = _as_array(self.xyxy, np.float32, "BestCrop.xyxy").reshape(-1)
        _check_len(box, 4, "BestCrop.xyxy")
        object.__setattr__(self, "xyxy", box)

    def better_than(self, other: BestCrop | None) -> bool:
        """Higher quality wins; on a tie (the score saturates) the larger box does."""
        if other is None:
            return True
        return (self.quality, self.area) > (other.quality, other.area)

    @property
    def area(self) -> float:
        return float((self.xyxy[2] - self.xyxy[0]) * (self.xyxy[3] - self.xyxy[1]))


@dataclass(frozen=True, eq=False)
class Sighting:
    """Snapshot of a sighting's state after a frame.

    ``prototype`` is the outlier-robust mean of the good crops' embeddings,
    None until the first good crop was embedded. ``best_crop`` is the best good
    crop that fed the prototype (None when the pipeline does not track it).
    """

    key: SightingKey
    first_seen_at: float
    last_seen_at: float
    n_embeddings: int
    prototype: FloatArray | None
    model_id: str | None
    decision: MatchDecision | None = None
    best_crop_quality: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    best_crop: BestCrop | None = None
