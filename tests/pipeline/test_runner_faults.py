"""One camera fails, the others go on: the runner with a real faulting camera next to a healthy one.

The faulting camera is a real HTTP MJPEG mjpeg_server on 127.0.0.1 read by :class:`StreamSource`
through OpenCV's FFmpeg (switched off, hung, sending garbage), or a damaged video file. The
healthy camera is a fake paced at a fixed rate; its processed-frame count over a window
during the fault is compared with a baseline window, as a ratio.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.capture import FrameSource, PacedSource, StreamSource, VideoFileSource
from reidcam.config import TrackerConfig
from reidcam.core.status import SourceState, SourceStatus
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import Models
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.track import build_tracker
from support.mjpeg_server import MjpegServer

pytestmark = pytest.mark.timeout(90)

HEALTHY_FPS = 20.0
WINDOW_S = 1.0
# The healthy camera keeps at least this share of its rate just before the fault. A runner
# that waited on the faulting camera (1 s read timeout per try) would fall to ~0.3 or less;
# the margin below 1 is for other processes on a loaded 2-core CI machine.
MIN_RATIO = 0.6


class StatusLog:
    """An EventSink that keeps the statuses the runner publishes."""

    def __init__(self) -> None:
        self.statuses: list[SourceStatus] = []
        self._lock = threading.Lock()

    def on_frame(self, result: object) -> None:
        pass

    def on_sighting_closed(self, sighting: object) -> None:
        pass

    def on_status(self, status: SourceStatus) -> None:
        with self._lock:
            self.statuses.append(status)

    def states(self, camera_id: str) -> set[SourceState]:
        with self._lock:
            return {s.state for s in self.statuses if s.camera_id == camera_id}


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


def unit(source: FrameSource) -> CameraUnit:
    tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
    return CameraUnit(
        source.camera_id, source, tracker, SightingBook(source.camera_id, max_missing_frames=10)
    )


def healthy_camera() -> CameraUnit:
    frames = render(two_camera_scene(), "cam0", 30)
    return unit(PacedSource("healthy", lambda: FakeSource("healthy", frames), HEALTHY_FPS, loop=True))


def models() -> Models:
    return fake_models()


@pytest.fixture
def start_runner() -> Iterator[Callable[[list[CameraUnit], StatusLog], Runner]]:
    """Starts runners in the background; stops them even when the test fails."""
    runners: list[Runner] = []

    def start(units: list[CameraUnit], sink: StatusLog) -> Runner:
        runner = Runner(units, models(), sink, status_interval_s=0.05)
        runners.append(runner)
        runner.start()
        return runner

    yield start
    for runner in runners:
        runner.stop()


def processed_in_window(cam: CameraUnit, runner: Runner) -> int:
    """Frames of ``cam`` processed over ``WINDOW_S``; the runner must stay up throughout."""
    before = cam.frames_processed
    deadline = time.monotonic() + WINDOW_S
    while time.monotonic() < deadline:
        assert runner.running and runner.error is None, "the runner stopped by itself"
        time.sleep(0.02)
    return cam.frames_processed - before


def state(cam: CameraUnit) -> SourceState:
    return cam.status().state


def test_healthy_camera_keeps_its_rate_while_the_other_faults(
    mjpeg_server: MjpegServer, start_runner: Callable[[list[CameraUnit], StatusLog], Runner]
) -> None:
    ok = healthy_camera()
    ip = unit(
        StreamSource(
            "ipcam",
            mjpeg_server.url,
            reconnect_backoff_s=0.05,
            reconnect_backoff_max_s=0.2,
            read_timeout_s=1.0,
        )
    )
    sink = StatusLog()
    runner = start_runner([ok, ip], sink)
    wait_until(lambda: ip.frames_processed >= 5 and ok.frames_processed >= 5, 10.0, "both cameras live")

    faults: dict[str, tuple[Callable[[], None], SourceState]] = {
        "off": (mjpeg_server.stop, SourceState.RECONNECTING),
        "hung": (mjpeg_server.stall, SourceState.STALLED),
        "garbage": (mjpeg_server.garbage, SourceState.RECONNECTING),
    }
    ratios = {}
    for name, (fault, expected) in faults.items():
        baseline = processed_in_window(ok, runner)
        assert baseline >= 0.5 * HEALTHY_FPS * WINDOW_S
        fault()
        ratios[name] = processed_in_window(ok, runner) / baseline
        assert expected in sink.states("ipcam"), f"{name}: {expected} never reported"
        assert state(ip) in (SourceState.STALLED, SourceState.RECONNECTING), name
        assert state(ok) is SourceState.LIVE
        mjpeg_server.come_back()
        n = ip.frames_processed
        wait_until(lambda n=n: ip.frames_processed >= n + 5, 6.0, f"ipcam processed again after {name}")
        assert state(ip) is SourceState.LIVE

    assert all(r >= MIN_RATIO for r in ratios.values()), ratios
    assert ip.status().reconnects >= 3
    assert runner.running and not ok.ended and not ip.ended


def corrupt_video(path: Path, n: int = 40) -> Path:
    """A real MJPEG AVI with random bytes over its second quarter."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (160, 120))
    for i in range(n):
        img = np.full((120, 160, 3), 40, np.uint8)
        cv2.rectangle(img, (10 + 2 * i, 20), (40 + 2 * i, 100), (30, 30, 220), -1)
        writer.write(img)
    writer.release()
    data = bytearray(path.read_bytes())
    start, size = len(data) // 3, len(data) // 4
    data[start : start + size] = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_damaged_video_camera_ends_and_the_runner_goes_on(
    tmp_path: Path, start_runner: Callable[[list[CameraUnit], StatusLog], Runner]
) -> None:
    path = corrupt_video(tmp_path / "damaged.avi")
    probe = VideoFileSource("probe", path)
    readable = sum(1 for _ in iter(probe.read, None))
    assert 0 < readable < 40

    ok, bad = healthy_camera(), unit(VideoFileSource("file", path))
    runner = start_runner([ok, bad], StatusLog())
    wait_until(lambda: bad.ended and bad.frames_processed >= readable, 10.0, "the damaged file to end")
    time.sleep(0.2)
    assert bad.frames_processed == readable  # every frame it could decode, each once
    status = bad.status()
    assert status.state is SourceState.ENDED
    assert status.last_error is not None and "truncated or corrupt" in status.last_error

    during = processed_in_window(ok, runner)
    assert during >= MIN_RATIO * HEALTHY_FPS * WINDOW_S
    assert runner.running and state(ok) is SourceState.LIVE
