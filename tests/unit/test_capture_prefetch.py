"""Reader threads: the prefetch of file cameras (no drops), pacing of a file as a live camera."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from reidcam.capture import LatestFrameGrabber, PacedSource, PrefetchReader
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame


class Counting:
    """A finite source of ``n`` frames; raises once at ``fail_at``; records how far it has read."""

    is_live = False

    def __init__(self, n: int, fail_at: int | None = None, camera_id: str = "cam") -> None:
        self.camera_id = camera_id
        self.n, self.fail_at, self.i, self.closed = n, fail_at, 0, False

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.closed or self.i >= self.n:
            return None
        if self.i == self.fail_at:
            self.fail_at = None
            raise OSError("bad frame")
        self.i += 1
        return Frame(self.camera_id, self.i - 1, np.zeros((4, 4, 3), np.uint8), time.time())

    def close(self) -> None:
        self.closed = True

    def status(self) -> SourceStatus:
        return SourceStatus(self.camera_id, SourceState.LIVE, self.i, 0, None, None, "counting")


def _wait_until(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def _drain(reader: PrefetchReader) -> list[int]:
    out = []
    while (frame := reader.get(timeout_s=2.0)) is not None:
        out.append(frame.index)
    return out


def test_prefetch_delivers_every_frame_in_order_and_ends() -> None:
    reader = PrefetchReader(Counting(30), depth=3)
    assert _drain(reader) == list(range(30))
    assert reader.exhausted and reader.ended and reader.dropped == 0 and reader.grabbed == 30
    reader.stop()


def test_prefetch_reads_at_most_depth_frames_ahead() -> None:
    source = Counting(100)
    reader = PrefetchReader(source, depth=2)
    _wait_until(lambda: reader.grabbed == 2)
    time.sleep(0.05)
    assert source.i <= 3, "the reader must block on a full queue (one frame may be in flight)"
    assert reader.get(timeout_s=1.0) is not None
    _wait_until(lambda: reader.grabbed == 3)
    reader.stop()
    assert source.closed


def test_prefetch_counts_a_read_error_and_goes_on() -> None:
    reader = PrefetchReader(Counting(10, fail_at=4))
    assert _drain(reader) == list(range(10))
    assert reader.take_errors() == 1 and reader.take_errors() == 0


def test_prefetch_signals_each_frame_and_reports_decode_time() -> None:
    calls = []
    reader = PrefetchReader(Counting(5), on_frame=lambda: calls.append(1))
    assert len(_drain(reader)) == 5
    assert len(calls) >= 6  # five frames and the end
    assert reader.last_decode_ms >= 0.0


def test_prefetch_stop_unblocks_a_full_queue() -> None:
    reader = PrefetchReader(Counting(1000), depth=1)
    _wait_until(lambda: reader.grabbed == 1)
    t0 = time.monotonic()
    reader.stop(timeout_s=2.0)
    assert time.monotonic() - t0 < 1.0 and reader.ended


def test_grabber_signals_new_frames_and_reports_exhausted() -> None:
    event = threading.Event()
    grabber = LatestFrameGrabber(Counting(20), on_frame=event.set)
    assert event.wait(2.0)
    _wait_until(lambda: grabber.ended)
    assert not grabber.exhausted, "the newest frame is still pending"
    assert grabber.get(timeout_s=0.1) is not None
    assert grabber.exhausted
    grabber.stop()


def test_paced_source_delivers_at_its_rate_renumbered_and_looping() -> None:
    source = PacedSource("cam", lambda: Counting(3), fps=100.0, max_frames=8)
    assert source.is_live
    t0 = time.monotonic()
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    elapsed = time.monotonic() - t0
    assert [f.index for f in frames] == list(range(8)), "indices keep growing across passes"
    assert elapsed >= 0.06, f"8 frames at 100 fps cannot come in {elapsed:.3f} s"
    assert source.last_decode_ms >= 0.0


def test_paced_source_through_a_grabber_drops_what_a_slow_consumer_misses() -> None:
    source = PacedSource("cam", lambda: Counting(1000), fps=200.0, max_frames=60)
    grabber = LatestFrameGrabber(source)
    taken = []
    while not grabber.exhausted:
        frame = grabber.get(timeout_s=0.5)
        if frame is not None:
            taken.append(frame.index)
            time.sleep(0.02)  # a consumer 4x slower than the camera
    grabber.stop()
    assert taken == sorted(taken) and len(taken) < 60
    assert grabber.dropped > 0 and grabber.grabbed == len(taken) + grabber.dropped


def test_paced_source_close_interrupts_the_wait() -> None:
    source = PacedSource("cam", lambda: Counting(1000), fps=0.5)
    assert source.read() is not None
    threading.Timer(0.1, source.close).start()
    t0 = time.monotonic()
    assert source.read() is None
    assert time.monotonic() - t0 < 1.0


def test_paced_source_rejects_a_bad_rate() -> None:
    with pytest.raises(ValueError):
        PacedSource("cam", lambda: Counting(1), fps=0)
