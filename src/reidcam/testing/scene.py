"""A synthetic multi-camera scene with known identities, for end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reidcam.testing.fakes import BACKGROUND


@dataclass(frozen=True)
class Walker:
    """A person of one colour walking in a straight line on one camera.

    Positions are the top-left corner in pixels at ``start`` and ``end`` frames.
    """

    person: str
    colour: tuple[int, int, int]
    camera_id: str
    start: int
    end: int
    from_xy: tuple[int, int]
    to_xy: tuple[int, int]
    size_wh: tuple[int, int] = (40, 100)

    def box_at(self, frame_index: int) -> tuple[int, int, int, int] | None:
        if not self.start <= frame_index < self.end:
            return None
        t = (frame_index - self.start) / max(self.end - self.start - 1, 1)
        x = round(self.from_xy[0] + t * (self.to_xy[0] - self.from_xy[0]))
        y = round(self.from_xy[1] + t * (self.to_xy[1] - self.from_xy[1]))
        return x, y, x + self.size_wh[0], y + self.size_wh[1]


def render(
    walkers: list[Walker],
    camera_id: str,
    n_frames: int,
    size_hw: tuple[int, int] = (260, 320),
) -> list[NDArray[np.uint8]]:
    """Draw every frame of one camera: BGR uint8, people as solid rectangles."""
    frames = []
    for i in range(n_frames):
        img = np.full((*size_hw, 3), BACKGROUND, np.uint8)
        for w in walkers:
            box = w.box_at(i) if w.camera_id == camera_id else None
            if box is not None:
                x1, y1, x2, y2 = box
                img[y1:y2, x1:x2] = w.colour
        frames.append(img)
    return frames


def crop_of(colour: tuple[int, int, int], size_wh: tuple[int, int] = (40, 100)) -> NDArray[np.uint8]:
    """A query crop of a person of ``colour``."""
    return np.full((size_wh[1], size_wh[0], 3), colour, np.uint8)


def two_camera_scene() -> list[Walker]:
    """Alice (red) crosses both cameras, Bob (blue) only cam0, Carol (green) only cam1."""
    return [
        Walker("alice", (30, 30, 220), "cam0", 0, 30, (10, 15), (260, 20)),
        Walker("bob", (220, 60, 30), "cam0", 5, 35, (270, 140), (20, 135)),
        Walker("alice", (30, 30, 220), "cam1", 20, 50, (250, 15), (20, 20)),
        Walker("carol", (40, 200, 40), "cam1", 0, 40, (20, 140), (250, 140)),
    ]
