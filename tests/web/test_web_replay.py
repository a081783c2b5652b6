"""Demo cameras: file sources replayed in a loop at a steady pace."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from reidcam.capture import PacedSource
from reidcam.config import AppConfig
from reidcam.core.status import SourceState
from reidcam.pipeline.replay import replay_cameras
from reidcam.testing import FakeSource


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((8, 8, 3), i, np.uint8) for i in range(n)]


def _source(n: int = 3, **kw: object) -> PacedSource:
    return PacedSource("cam", lambda: FakeSource("cam", _frames(n)), **kw)  # type: ignore[arg-type]


def test_loops_with_growing_indices_and_stable_names() -> None:
    src = _source(3, fps=None, loop=True)
    assert src.is_live  # read through a grabber thread, so pacing never blocks other cameras
    frames = [src.read() for _ in range(7)]
    assert [f.index for f in frames] == list(range(7))
    assert [f.name for f in frames] == ["000000.png", "000001.png", "000002.png"] * 2 + ["000000.png"]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2, 0, 1, 2, 0]
    assert src.status().state is SourceState.LIVE and src.status().frames_read == 7
    src.close()
    assert src.read() is None and src.status().state is SourceState.STOPPED


def test_plays_once_without_loop() -> None:
    src = _source(2, fps=None, loop=False)
    assert [src.read() is not None for _ in range(3)] == [True, True, False]
    assert src.status().state is SourceState.ENDED


def test_paces_frames_and_close_interrupts_the_wait() -> None:
    src = _source(3, fps=20.0, loop=True)
    t0 = time.monotonic()
    for _ in range(5):
        src.read()
    assert 0.15 <= time.monotonic() - t0 < 1.0  # 4 waits of 50 ms
    slow = _source(3, fps=0.2, loop=True)
    slow.read()
    threading.Timer(0.1, slow.close).start()
    t0 = time.monotonic()
    assert slow.read() is None
    assert time.monotonic() - t0 < 1.0


def test_an_empty_source_does_not_spin() -> None:
    src = _source(0, fps=None, loop=True)
    assert src.read() is None
    assert src.status().state is SourceState.ENDED


def test_replay_cameras_wraps_file_sources_only(tmp_path: Path) -> None:
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), np.full((16, 16, 3), 100, np.uint8))
    cfg = AppConfig.model_validate({"cameras": [{"id": "a", "source": str(tmp_path)}]})
    (unit,) = replay_cameras(cfg, fps=None, loop=True)
    assert isinstance(unit.source, PacedSource)
    names = [unit.source.read().name for _ in range(5)]
    assert names == ["f0.jpg", "f1.jpg", "f0.jpg", "f1.jpg", "f0.jpg"]
    assert "loop" in unit.source.status().description
    unit.source.close()
