"""Is a detected box a person? A pose check that keeps wheels, cones, racks and signs out.

The person detector also fires on things shaped like people. A human pose model, run on the
box (with a margin of context), finds a body's keypoints on a person and few on a traffic cone
or a clothes rack. A box is a person when the pose model finds, in it, a person with at least
``min_keypoints`` of the 17 COCO keypoints visible (confidence >= 0.5). Measured on MOT17-mini
ground truth in docs/accuracy.md ("Not a person"), command ``benchmarks/nonperson_filter.py``.

The pipeline asks once per new track (and again, a few times, while the answer is no), so the
cost is one small pose call per new track, not per frame.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError, WeightsError

log = logging.getLogger(__name__)

KEYPOINT_CONF = 0.5
CONTEXT = 0.15  # the box grown by this fraction of its size on each side


def padded_crops(image: NDArray[np.uint8], xyxy: NDArray[np.float32]) -> list[NDArray[np.uint8]]:
    """The boxes with ``CONTEXT`` margin, clipped to the image (BGR uint8 views)."""
    h, w = image.shape[:2]
    out = []
    for x1, y1, x2, y2 in np.asarray(xyxy, np.float32).reshape(-1, 4):
        dx, dy = CONTEXT * (x2 - x1), CONTEXT * (y2 - y1)
        a, b = int(max(0, x1 - dx)), int(max(0, y1 - dy))
        c, d = int(min(w, np.ceil(x2 + dx))), int(min(h, np.ceil(y2 + dy)))
        out.append(image[b : max(d, b + 1), a : max(c, a + 1)])
    return out


def visible_keypoints(conf: NDArray[np.float32] | None) -> int:
    """Most keypoints at or above ``KEYPOINT_CONF`` of any one person found (0 when none)."""
    if conf is None or conf.size == 0:
        return 0
    return int((np.asarray(conf).reshape(len(conf), -1) >= KEYPOINT_CONF).sum(axis=1).max())


class PoseCheck:
    """Ultralytics pose model (``yolo11n-pose.pt``) on each box: person or not.

    Args:
        weights: the pose ``.pt`` file (resolved by the weights registry).
        min_keypoints: visible keypoints a person needs (7: about half a body).
        imgsz: pose input size in px; crops are small, so a small input is enough.

    Raises:
        DependencyError: ultralytics is missing; WeightsError: the file cannot be loaded.
    """

    def __init__(self, weights: Path, min_keypoints: int = 7, imgsz: int = 256) -> None:
        try:
            from ultralytics.models import YOLO
        except ImportError as exc:
            raise DependencyError("the pose person check needs ultralytics: pip install ultralytics") from exc
        try:
            self._model: Any = YOLO(str(weights), task="pose")
        except Exception as exc:  # ultralytics raises many types for a bad file
            raise WeightsError(f"cannot load the pose model {weights}: {exc}") from exc
        self.min_keypoints = int(min_keypoints)
        self.imgsz = int(imgsz)

    def keypoints(self, image: NDArray[np.uint8], xyxy: NDArray[np.float32]) -> list[int]:
        """Visible keypoints of the best person found in each box (its padded crop)."""
        crops = padded_crops(image, xyxy)
        if not crops:
            return []
        results = self._model(crops, imgsz=self.imgsz, conf=0.1, verbose=False)
        out = []
        for r in results:
            kp = getattr(r, "keypoints", None)
            conf = None if kp is None or kp.conf is None else kp.conf.cpu().numpy()
            out.append(visible_keypoints(conf))
        return out

    def check(self, image: NDArray[np.uint8], xyxy: NDArray[np.float32]) -> NDArray[np.bool_]:
        """(N,) True where the box holds a person (BGR uint8 image, boxes in its pixels)."""
        return np.asarray([k >= self.min_keypoints for k in self.keypoints(image, xyxy)], bool)
