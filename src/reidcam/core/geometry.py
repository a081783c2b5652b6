"""Box helpers on ``xyxy`` float32 arrays of shape (N, 4)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def clip_boxes(xyxy: NDArray[np.float32], width: int, height: int) -> NDArray[np.float32]:
    """Clip boxes to the image so crops never index outside it."""
    out = np.asarray(xyxy, dtype=np.float32).copy().reshape(-1, 4)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def box_heights(xyxy: NDArray[np.float32]) -> NDArray[np.float32]:
    return (np.asarray(xyxy, np.float32).reshape(-1, 4)[:, 3] - xyxy[:, 1]).astype(np.float32)


def box_widths(xyxy: NDArray[np.float32]) -> NDArray[np.float32]:
    return (np.asarray(xyxy, np.float32).reshape(-1, 4)[:, 2] - xyxy[:, 0]).astype(np.float32)


def iou_matrix(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Pairwise IoU, shape (len(a), len(b))."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def touches_border(
    xyxy: NDArray[np.float32], width: int, height: int, margin_px: float = 2.0
) -> NDArray[np.bool_]:
    """True for boxes cut by the frame edge: their crops show a truncated person."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return (
        (b[:, 0] <= margin_px)
        | (b[:, 1] <= margin_px)
        | (b[:, 2] >= width - margin_px)
        | (b[:, 3] >= height - margin_px)
    )
