"""A camera whose people are hard to tell apart, made from a sample video.

Grey, low-contrast, downscaled (and back up) and blurred frames keep people detectable as
shapes but take away the colour and texture ReID tells them apart by. Used by the hard-camera
browser test and ``benchmarks/hard_camera.py`` (figures in docs/accuracy.md, section 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Degradation:
    """How the frames are spoiled: ``scale`` times smaller, ``blur_px`` Gaussian kernel (odd),
    ``contrast`` times the grey levels' spread around their mean."""

    scale: int = 6
    blur_px: int = 15
    contrast: float = 0.4

    def __post_init__(self) -> None:
        if self.scale < 1 or self.blur_px < 1 or self.blur_px % 2 == 0 or not 0 < self.contrast <= 1:
            raise ValueError(f"bad degradation {self}: scale >= 1, odd blur_px, contrast in (0, 1]")

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """One BGR uint8 frame, spoiled (same size, BGR uint8)."""
        h, w = frame.shape[:2]
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
        flat = np.clip((grey - grey.mean()) * self.contrast + grey.mean(), 0, 255).astype(np.uint8)
        small = cv2.resize(
            flat, (max(1, w // self.scale), max(1, h // self.scale)), interpolation=cv2.INTER_AREA
        )
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        blurred = cv2.GaussianBlur(big, (self.blur_px, self.blur_px), 0)
        return np.asarray(cv2.cvtColor(blurred, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def hard_clip(src: Path, dst: Path, frames: int, how: Degradation | None = None, fps: float = 10.0) -> Path:
    """The first ``frames`` frames of ``src``, spoiled by ``how``, as an MJPEG AVI at ``dst``.

    Raises:
        ValueError: ``src`` has no readable frame.
    """
    how = how or Degradation()
    cap = cv2.VideoCapture(str(src))
    writer = None
    try:
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok:
                break
            img = how.apply(frame)
            if writer is None:
                size = (img.shape[1], img.shape[0])
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
            writer.write(img)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError(f"no readable frame in {src}")
    return dst
