"""A pipeline process for the SIGKILL test: fake cameras -> IdentitySink -> IdentityMemory.

Usage: python sigkill_worker.py DATA_DIR [URL|-] [ROUNDS]

Prints ``committed <sighting_id>`` once each sighting's transaction has committed, runs ROUNDS
rounds of a synthetic two-camera scene (0 = until killed), then ``done``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from reidcam.core.types import Detections, Frame, Tracks
from reidcam.identity import IdentityMemory, IdentitySettings, IdentitySink
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import Models
from reidcam.testing import FakeSource, Walker, render
from reidcam.testing.models import fake_models

PALETTE = [(30, 30, 220), (220, 60, 30), (40, 200, 40), (200, 200, 40), (200, 40, 200), (40, 200, 200)]
N_FRAMES = 24


class NearestTracker:
    """Greedy nearest-centre tracking, enough for slow walkers; spares this process torch's import."""

    def __init__(self, max_dist_px: float = 30.0) -> None:
        self.max_dist_px = max_dist_px
        self._last: dict[int, np.ndarray] = {}
        self._next_id = 1

    def update(self, detections: Detections, frame: Frame) -> Tracks:
        centres = (detections.xyxy[:, :2] + detections.xyxy[:, 2:]) / 2
        ids, free = [], dict(self._last)
        for c in centres:
            near = min(free.items(), key=lambda kv: float(np.linalg.norm(kv[1] - c)), default=None)
            if near is not None and float(np.linalg.norm(near[1] - c)) <= self.max_dist_px:
                ids.append(near[0])
                del free[near[0]]
            else:
                ids.append(self._next_id)
                self._next_id += 1
        self._last = {i: c for i, c in zip(ids, centres, strict=True)}
        n = len(ids)
        return Tracks(np.array(ids, np.int64), detections.xyxy, detections.confidence, np.arange(n))

    def reset(self) -> None:
        self._last.clear()


def _walkers(seed: int) -> list[Walker]:
    """Four short walks per camera in separate lanes, colours drawn from a small palette."""
    rng = np.random.default_rng(seed)
    out = []
    for cam in ("cam0", "cam1"):
        for lane in range(4):
            start, x = int(rng.integers(0, 8)), int(rng.integers(10, 200))
            colour = PALETTE[int(rng.integers(0, len(PALETTE)))]
            y = 5 + lane * 62
            out.append(Walker(f"p{lane}", colour, cam, start, start + 14, (x, y), (x + 60, y), (24, 56)))
    return out


def _models() -> Models:
    return fake_models()


def run_round(sink: IdentitySink, seed: int) -> None:
    walkers = _walkers(seed)
    units = []
    for cam in ("cam0", "cam1"):
        source = FakeSource(cam, render(walkers, cam, N_FRAMES))
        units.append(CameraUnit(cam, source, NearestTracker(), SightingBook(cam, max_missing_frames=3)))
    Runner(units, _models(), sink).run()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    data_dir = Path(argv[1])
    url = argv[2] if len(argv) > 2 and argv[2] != "-" else None
    rounds = int(argv[3]) if len(argv) > 3 else 0
    memory = IdentityMemory.open(data_dir, url=url, settings=IdentitySettings(threshold=0.8))
    sink = IdentitySink(memory, on_assigned=lambda a: print(f"committed {a.sighting_id}", flush=True))
    done = 0
    while rounds <= 0 or done < rounds:
        run_round(sink, seed=done)
        done += 1
    sink.close()
    memory.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
