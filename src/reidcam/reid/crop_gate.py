"""Person crops and the quality gate that decides which crops may feed matching.

A poor crop (too small, squashed, cut by the frame edge, or half hidden behind someone in
front) gives an embedding of something other than the whole person; averaging it into a
sighting drags the prototype towards the wrong identity. Such crops may still be saved and
shown, but ``ok`` is False for them and they are not used for matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reidcam.config.schema import ReidConfig
from reidcam.core.geometry import box_heights, box_widths, touches_border

__all__ = ["CropGate", "CropQuality", "crop_quality", "extract_crops", "gate_crops"]


def extract_crops(image: NDArray[np.uint8], xyxy: NDArray[np.float32]) -> list[NDArray[np.uint8] | None]:
    """Cut each box out of a BGR uint8 (H, W, 3) image.

    Boxes are clipped to the frame (x1/y1 floored, x2/y2 ceiled). The result is aligned with
    ``xyxy``: a box with no pixels left inside the frame gives None rather than being skipped,
    so index i is always box i. Each crop is a contiguous copy: it stays valid when the frame
    buffer is reused.
    """
    h, w = image.shape[:2]
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    x1 = np.clip(np.floor(boxes[:, 0]), 0, w).astype(int)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, h).astype(int)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, w).astype(int)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, h).astype(int)
    crops: list[NDArray[np.uint8] | None] = []
    for a, b, c, d in zip(x1.tolist(), y1.tolist(), x2.tolist(), y2.tolist(), strict=True):
        crops.append(np.ascontiguousarray(image[b:d, a:c]) if c > a and d > b else None)
    return crops


def _cfg_default(field: str) -> float:
    """Defaults come from ReidConfig so a bare CropGate() gates like the default config."""
    return float(ReidConfig.model_fields[field].default)


@dataclass(frozen=True)
class CropGate:
    """Thresholds of the quality gate.

    Attributes:
        min_height_px, min_width_px: smallest usable box in frame pixels (defaults: ReidConfig's).
        min_aspect: smallest height/width ratio (a standing person is about 2-3).
        max_overlap: largest fraction of the box covered by a box in front of it.
        border_margin_px: a box this close to the frame edge counts as cut by it.
    """

    min_height_px: float = _cfg_default("min_crop_height_px")
    min_width_px: float = _cfg_default("min_crop_width_px")
    min_aspect: float = _cfg_default("min_aspect")
    max_overlap: float = 0.4
    border_margin_px: float = 2.0

    @classmethod
    def from_config(
        cls, cfg: ReidConfig, max_overlap: float = 0.4, border_margin_px: float = 2.0
    ) -> CropGate:
        return cls(
            cfg.min_crop_height_px, cfg.min_crop_width_px, cfg.min_aspect, max_overlap, border_margin_px
        )


@dataclass(frozen=True)
class CropQuality:
    """Gate result for N boxes.

    Attributes:
        ok: (N,) bool, True when the crop may be used for matching.
        score: (N,) float32 in [0, 1], higher is better; ranks crops (best crop of a sighting).
        reasons: N strings, "" when ok, else comma-separated codes:
            'too_short', 'too_narrow', 'aspect', 'border', 'occluded'.
        overlap: (N,) float32 largest fraction of each box covered by a box in front of it.
    """

    ok: NDArray[np.bool_]
    score: NDArray[np.float32]
    reasons: list[str]
    overlap: NDArray[np.float32]


def occlusion(xyxy: NDArray[np.float32]) -> NDArray[np.float32]:
    """Largest fraction of each box's area covered by another box standing in front of it.

    On a ground plane seen from above eye level, the person whose feet (box bottom, y2) are
    lower in the image is nearer the camera, so box j occludes box i when j.y2 >= i.y2. The
    small person in front of a big box is thus not marked occluded, while the one behind is.

    Returns:
        (N,) float32 in [0, 1].
    """
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(b)
    if n < 2:
        return np.zeros((n,), np.float32)
    tl = np.maximum(b[:, None, :2], b[None, :, :2])
    br = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = np.maximum(np.prod(b[:, 2:] - b[:, :2], axis=1), 1e-9)
    covered = inter / area[:, None]
    in_front = b[None, :, 3] >= b[:, None, 3]
    np.fill_diagonal(in_front, False)
    return np.asarray(np.max(np.where(in_front, covered, 0.0), axis=1), dtype=np.float32)


def _reason_codes(checks: Sequence[tuple[str, NDArray[np.bool_]]], n: int) -> list[str]:
    return [",".join(code for code, bad in checks if bad[i]) for i in range(n)]


def crop_quality(
    xyxy: NDArray[np.float32], frame_width: int, frame_height: int, gate: CropGate
) -> CropQuality:
    """Judge each box as a ReID crop.

    Args:
        xyxy: (N, 4) float32 boxes in frame pixels.
        frame_width, frame_height: frame size in pixels.
        gate: the thresholds (``CropGate.from_config`` makes one from a ReidConfig).

    The score is a size term (height up to twice the minimum counts, then saturates) times
    (1 - overlap), halved for a border cut or a bad aspect ratio.
    """
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    h, w = box_heights(b), box_widths(b)
    overlap = occlusion(b)
    checks = (
        ("too_short", h < gate.min_height_px),
        ("too_narrow", w < gate.min_width_px),
        ("aspect", h < gate.min_aspect * w),
        ("border", touches_border(b, frame_width, frame_height, gate.border_margin_px)),
        ("occluded", overlap > gate.max_overlap),
    )
    ok = ~np.any(np.stack([bad for _, bad in checks]), axis=0) if len(b) else np.zeros((0,), bool)
    size = np.clip(h / max(2.0 * gate.min_height_px, 1.0), 0.0, 1.0)
    penalty = np.where(checks[2][1] | checks[3][1], 0.5, 1.0)
    score = (size * (1.0 - overlap) * penalty).astype(np.float32)
    return CropQuality(ok, score, _reason_codes(checks, len(b)), overlap)


def gate_crops(xyxy: NDArray[np.float32], frame_width: int, frame_height: int, gate: CropGate) -> list[str]:
    """Reason codes only, aligned with ``xyxy``: "" means the crop may be used for matching."""
    return crop_quality(xyxy, frame_width, frame_height, gate).reasons
