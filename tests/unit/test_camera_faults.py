"""Camera faults against a real HTTP MJPEG mjpeg_server on 127.0.0.1, read through OpenCV's FFmpeg.

The fake-capture tests in test_capture_stream.py check the reconnect logic; these check
that the real backend surfaces each fault a network camera shows (off, hung, sending
garbage) as a failed read or open within the timeouts, so that :class:`StreamSource`
reports it, reconnects with capped backoff and comes back live, and never ends by itself.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from reidcam.capture import StreamSource, make_opener
from reidcam.capture.stream import CaptureLike, Opener
from reidcam.core.status import SourceState
from reidcam.core.types import Frame
from support.mjpeg_server import MjpegServer

BACKOFF_S, BACKOFF_MAX_S, READ_TIMEOUT_S = 0.05, 0.2, 1.0

pytestmark = pytest.mark.timeout(60)


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


class Reader:
    """Reads a source on a thread like a camera grabber, recording every frame and any None."""

    def __init__(self, source: StreamSource) -> None:
        self.source = source
        self.frames: list[Frame] = []
        self.nones = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:  # only a None from read() ends it: a live source must never give one by itself
            frame = self.source.read()
            if frame is None:
                self.nones += 1
                return
            self.frames.append(frame)

    def count(self) -> int:
        return len(self.frames)

    def wait_frames(self, n: int, timeout_s: float = 10.0) -> None:
        target = self.count() + n
        wait_until(lambda: self.count() >= target, timeout_s, f"{n} new frames")

    def close(self) -> float:
        """Close the source and join; returns how long the reader took to return."""
        t0 = time.monotonic()
        self.source.close()
        self._thread.join(READ_TIMEOUT_S + 3.0)
        assert not self._thread.is_alive(), "reader still blocked after close()"
        return time.monotonic() - t0


class TimedOpener:
    """The real default opener, recording when each open started and whether it opened."""

    def __init__(self) -> None:
        self._inner = make_opener(READ_TIMEOUT_S, READ_TIMEOUT_S)
        self.opens: list[tuple[float, bool]] = []

    def __call__(self, source: int | str) -> CaptureLike:
        t0 = time.monotonic()
        cap = self._inner(source)
        self.opens.append((t0, bool(cap.isOpened())))
        return cap


@pytest.fixture
def make_reader(mjpeg_server: MjpegServer) -> Iterator[Callable[..., Reader]]:
    """Starts readers on StreamSources at the mjpeg_server's URL; closes them all after the test."""
    readers: list[Reader] = []

    def make(opener: Opener | None = None) -> Reader:
        src = StreamSource(
            "ipcam",
            mjpeg_server.url,
            reconnect_backoff_s=BACKOFF_S,
            reconnect_backoff_max_s=BACKOFF_MAX_S,
            read_timeout_s=READ_TIMEOUT_S,
            opener=opener,
        )
        readers.append(Reader(src))
        return readers[-1]

    yield make
    for reader in readers:
        reader.close()


def state_of(reader: Reader) -> SourceState:
    return reader.source.status().state


def assert_back_live(reader: Reader, mjpeg_server: MjpegServer) -> None:
    """After ``come_back``: live again, fresh frames, backoff reset, reader never saw None."""
    mjpeg_server.come_back()
    reader.wait_frames(5, timeout_s=READ_TIMEOUT_S * 3 + 3.0)
    assert state_of(reader) is SourceState.LIVE
    assert reader.source.backoff_s == BACKOFF_S
    age = reader.source.status().last_frame_age_s
    assert age is not None and age < 0.5
    assert reader.nones == 0


def test_mjpeg_camera_goes_live_with_the_default_opener(
    mjpeg_server: MjpegServer, make_reader: Callable[..., Reader]
) -> None:
    reader = make_reader()  # opener=None: cv2.VideoCapture + FFmpeg with the timeouts
    reader.wait_frames(10, timeout_s=5.0)
    status = reader.source.status()
    assert status.state is SourceState.LIVE
    assert status.reconnects == 0 and status.last_error is None
    assert status.last_frame_age_s is not None and status.last_frame_age_s < 0.5
    assert status.description == f"http://127.0.0.1:{mjpeg_server.port}/video.mjpg"
    assert reader.frames[0].image.shape == (120, 160, 3)
    levels = {int(f.image[5, 5, 0]) // 8 for f in reader.frames}
    assert len(levels) > 3  # frames are new images, not one frame repeated
    assert reader.close() < 1.0
    assert reader.nones == 1 and state_of(reader) is SourceState.STOPPED


def test_server_off_reconnects_with_capped_backoff_then_live(
    mjpeg_server: MjpegServer, make_reader: Callable[..., Reader]
) -> None:
    opener = TimedOpener()
    reader = make_reader(opener)
    reader.wait_frames(5)
    mjpeg_server.stop()
    wait_until(lambda: state_of(reader) is SourceState.RECONNECTING, 2.0, "reconnecting")
    wait_until(lambda: reader.source.reconnects >= 6, 5.0, "6 reconnect attempts")
    frames_while_off = reader.count()

    assert state_of(reader) is SourceState.RECONNECTING
    status = reader.source.status()
    assert status.last_error is not None and "cannot open" in status.last_error
    assert reader.source.backoff_s == BACKOFF_MAX_S
    failed = [t for t, ok in opener.opens[1:] if not ok]
    gaps = [b - a for a, b in itertools.pairwise(failed)]
    assert len(gaps) >= 4
    assert gaps[0] < gaps[-1]  # the delay grew ...
    assert all(g < BACKOFF_MAX_S + 0.25 for g in gaps)  # ... and stayed capped
    assert gaps[-1] >= BACKOFF_MAX_S * 0.9
    assert reader.count() == frames_while_off and reader.nones == 0

    assert_back_live(reader, mjpeg_server)
    assert opener.opens[-1][1]


def test_hung_server_is_stalled_then_reconnecting_then_live(
    mjpeg_server: MjpegServer, make_reader: Callable[..., Reader]
) -> None:
    reader = make_reader()
    reader.wait_frames(5)
    mjpeg_server.stall()
    t0 = time.monotonic()
    wait_until(lambda: state_of(reader) is SourceState.STALLED, 2.0, "stalled")
    assert time.monotonic() - t0 < READ_TIMEOUT_S  # seen while the read still waits
    age = reader.source.status().last_frame_age_s
    assert age is not None and age >= reader.source.stall_after_s
    # FFmpeg's read timeout ends the hung read; reopening a hung mjpeg_server times out too.
    wait_until(lambda: state_of(reader) is SourceState.RECONNECTING, READ_TIMEOUT_S + 2.0, "reconnecting")
    wait_until(lambda: reader.source.reconnects >= 2, 2 * READ_TIMEOUT_S + 3.0, "2 reconnects")
    assert reader.source.status().last_error is not None
    assert reader.nones == 0
    assert_back_live(reader, mjpeg_server)


@pytest.mark.parametrize("framed", [False, True], ids=["raw-bytes", "bad-jpeg-parts"])
def test_garbage_stream_is_a_lost_stream_then_live(
    mjpeg_server: MjpegServer, make_reader: Callable[..., Reader], framed: bool
) -> None:
    reader = make_reader()
    reader.wait_frames(5)
    mjpeg_server.garbage(framed=framed)
    wait_until(lambda: state_of(reader) is SourceState.RECONNECTING, READ_TIMEOUT_S + 2.0, "reconnecting")
    frames_at_fault = reader.count()
    wait_until(lambda: reader.source.reconnects >= 2, 2 * READ_TIMEOUT_S + 3.0, "2 reconnects")
    assert reader.count() <= frames_at_fault + 1  # no garbage frame is delivered
    assert reader.source.status().last_error is not None
    assert reader.nones == 0
    assert_back_live(reader, mjpeg_server)


def test_close_while_server_is_hung_returns_within_the_read_timeout(
    mjpeg_server: MjpegServer, make_reader: Callable[..., Reader]
) -> None:
    reader = make_reader()
    reader.wait_frames(3)
    mjpeg_server.stall()
    wait_until(lambda: state_of(reader) is SourceState.STALLED, 2.0, "stalled")
    assert reader.close() < READ_TIMEOUT_S + 0.5
    assert reader.nones == 1
