"""Live sources with a fake camera: reconnect, backoff, close, redaction; the latest-frame grabber."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from reidcam.capture import LatestFrameGrabber, StreamSource, next_backoff_s
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame

FAST = {"reconnect_backoff_s": 0.001, "reconnect_backoff_max_s": 0.004}


class FakeCap:
    """A capture that delivers ``n_frames`` (None: forever) then fails, numbering frames globally."""

    def __init__(self, camera: FakeCamera, opened: bool, n_frames: int | None) -> None:
        self.camera, self.opened, self.left = camera, opened, n_frames
        self.released = False

    def isOpened(self) -> bool:  # OpenCV's name
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.released or not self.opened or self.left == 0:
            return False, None
        if self.left is not None:
            self.left -= 1
        self.camera.produced += 1
        return True, np.full((8, 8, 3), self.camera.produced % 256, np.uint8)

    def release(self) -> None:
        self.released = True


class FakeCamera:
    """Opener following a plan, one entry per open: None = open fails, n = n frames then
    the stream dies, -1 = frames forever. After the plan every open fails."""

    def __init__(self, plan: list[int | None]) -> None:
        self.plan = list(plan)
        self.opens: list[int | str] = []
        self.produced = 0

    def __call__(self, source: int | str) -> FakeCap:
        self.opens.append(source)
        step = self.plan.pop(0) if self.plan else None
        if step is None:
            return FakeCap(self, False, 0)
        return FakeCap(self, True, None if step < 0 else step)


def _wait_until(pred: Callable[[], bool], timeout_s: float = 1.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def _read_in_thread(src: StreamSource) -> tuple[threading.Thread, list[Frame | None]]:
    out: list[Frame | None] = []
    t = threading.Thread(target=lambda: out.append(src.read()), daemon=True)
    t.start()
    return t, out


def test_stream_reconnects_after_failure_and_frames_continue() -> None:
    cam = FakeCamera([3, None, None, -1])
    src = StreamSource("door", "rtsp://u:pw@h/x", opener=cam, **FAST)
    src.open()
    frames = [src.read() for _ in range(8)]

    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(8))
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(1, 9))
    status = src.status()
    assert status.reconnects == 3  # two failed reopen attempts, then the one that worked
    assert status.state is SourceState.LIVE
    assert status.frames_read == 8
    assert len(cam.opens) == 4
    assert src.backoff_s == FAST["reconnect_backoff_s"]  # reset after a good frame
    src.close()
    assert src.read() is None
    assert src.status().state is SourceState.STOPPED


def test_stream_failed_first_open_is_retried_not_raised() -> None:
    cam = FakeCamera([None, -1])
    src = StreamSource("c", 0, opener=cam, **FAST)
    src.open()
    assert src.status().state is SourceState.RECONNECTING
    assert src.status().last_error is not None
    frame = src.read()
    assert frame is not None and frame.index == 0
    assert src.reconnects == 1
    src.close()


def test_usb_index_given_as_text_is_opened_as_int() -> None:
    cam = FakeCamera([-1])
    src = StreamSource("usb", "2", opener=cam, **FAST)
    assert src.read() is not None
    assert cam.opens == [2]
    assert src.status().description == "USB camera 2"
    src.close()


def test_backoff_doubles_and_is_capped() -> None:
    delays = [1.0]
    for _ in range(7):
        delays.append(next_backoff_s(delays[-1], 30.0))
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]

    cam = FakeCamera([])  # never opens
    src = StreamSource("c", "rtsp://h/x", opener=cam, **FAST)
    t, out = _read_in_thread(src)
    _wait_until(lambda: src.reconnects >= 6)
    assert src.backoff_s == FAST["reconnect_backoff_max_s"]
    assert src.status().state is SourceState.RECONNECTING
    src.close()
    t.join(1.0)
    assert not t.is_alive() and out == [None]


def test_close_interrupts_backoff_wait_quickly() -> None:
    cam = FakeCamera([])
    src = StreamSource("c", "rtsp://h/x", opener=cam, reconnect_backoff_s=30.0, reconnect_backoff_max_s=60.0)
    t, out = _read_in_thread(src)
    _wait_until(lambda: src.status().state is SourceState.RECONNECTING and len(cam.opens) == 1)
    started = time.monotonic()
    src.close()
    t.join(2.0)
    assert time.monotonic() - started < 0.5
    assert out == [None]
    assert src.reconnects == 0


def test_close_during_blocked_read_releases_after_read_returns() -> None:
    unblock, entered = threading.Event(), threading.Event()

    class HangingCap(FakeCap):
        def read(self) -> tuple[bool, np.ndarray | None]:
            entered.set()
            unblock.wait(2.0)
            return True, np.zeros((4, 4, 3), np.uint8)

    cam = FakeCamera([])
    cap = HangingCap(cam, True, None)
    src = StreamSource("c", "rtsp://h/x", opener=lambda _s: cap, **FAST)
    t, out = _read_in_thread(src)
    assert entered.wait(1.0)
    src.close()
    assert not cap.released  # never released under the reader's feet
    unblock.set()
    t.join(1.0)
    assert cap.released
    assert out[0] is not None  # the frame already being read is still delivered
    assert src.read() is None


def test_stream_reports_stalled_when_frames_stop() -> None:
    src = StreamSource("c", 0, opener=FakeCamera([-1]), read_timeout_s=0.1, **FAST)
    assert src.read() is not None
    assert src.status().state is SourceState.LIVE
    time.sleep(0.12)
    status = src.status()
    assert status.state is SourceState.STALLED
    assert status.last_frame_age_s is not None and status.last_frame_age_s >= 0.1
    src.close()


def test_opener_exception_counts_as_failed_open_and_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    url = "rtsp://admin:hunter2@cam.local/live"
    calls = {"n": 0}

    def opener(source: int | str) -> FakeCap:
        calls["n"] += 1
        if calls["n"] != 2:  # down, then up for two frames, then down for good
            raise RuntimeError(f"could not connect to {source}")
        return FakeCap(FakeCamera([]), True, 2)

    src = StreamSource("c", url, opener=opener, **FAST)
    with caplog.at_level(logging.DEBUG, logger="reidcam.capture"):
        src.open()
        frames = [src.read(), src.read()]
        t, out = _read_in_thread(src)
        _wait_until(lambda: src.reconnects >= 3)
        src.close()
        t.join(1.0)
    assert out == [None]
    assert all(f is not None for f in frames)
    text = caplog.text + repr(src) + str(src.status())
    assert "hunter2" not in text
    assert "admin:***@cam.local" in caplog.text


# --- grabber --------------------------------------------------------------------------------


class ListSource:
    """A finite source of ``n`` frames, read as fast as possible."""

    camera_id = "list"
    is_live = False

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.i, self.closed = n, fail_at, 0, False

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.closed or self.i >= self.n:
            return None
        if self.i == self.fail_at:
            raise RuntimeError("decoder exploded")
        self.i += 1
        return Frame(self.camera_id, self.i - 1, np.zeros((4, 4, 3), np.uint8), time.time())

    def close(self) -> None:
        self.closed = True

    def status(self) -> SourceStatus:
        return SourceStatus(self.camera_id, SourceState.LIVE, self.i, 0, None, None, "list")


def test_grabber_keeps_only_the_newest_frame_and_counts_drops() -> None:
    grabber = LatestFrameGrabber(ListSource(50))
    _wait_until(lambda: grabber.ended)
    frame = grabber.get(timeout_s=0.1)
    assert frame is not None and frame.index == 49
    assert grabber.grabbed == 50
    assert grabber.dropped == 49
    started = time.monotonic()
    assert grabber.get(timeout_s=5.0) is None  # ended: no waiting for the timeout
    assert time.monotonic() - started < 0.1
    grabber.stop()


def test_grabber_on_live_stream_delivers_increasing_frames_and_stops_fast() -> None:
    src = StreamSource("c", 0, opener=FakeCamera([-1]), **FAST)
    src.open()
    with LatestFrameGrabber(src) as grabber:
        indexes = []
        for _ in range(5):
            frame = grabber.get(timeout_s=1.0)
            assert frame is not None
            indexes.append(frame.index)
            time.sleep(0.002)
        assert indexes == sorted(set(indexes))
        _wait_until(lambda: grabber.dropped > 0)
        started = time.monotonic()
    assert time.monotonic() - started < 0.5
    assert grabber.ended
    assert src.status().state is SourceState.STOPPED


def test_grabber_get_times_out_while_camera_is_down_and_stop_interrupts() -> None:
    src = StreamSource("c", "rtsp://h/x", opener=FakeCamera([]), reconnect_backoff_s=30.0)
    grabber = LatestFrameGrabber(src)
    started = time.monotonic()
    assert grabber.get(timeout_s=0.05) is None
    assert 0.04 <= time.monotonic() - started < 0.5
    assert not grabber.ended
    grabber.stop(timeout_s=1.0)
    assert grabber.ended
    assert time.monotonic() - started < 0.6


def test_grabber_reports_source_exception(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="reidcam.capture"):
        grabber = LatestFrameGrabber(ListSource(10, fail_at=3))
        _wait_until(lambda: grabber.ended)
    assert isinstance(grabber.error, RuntimeError)
    frame = grabber.get(timeout_s=0.1)
    assert frame is not None and frame.index == 2
    assert grabber.get(timeout_s=0.1) is None
    assert "grabber failed" in caplog.text
    grabber.stop()
