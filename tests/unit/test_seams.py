"""The typed seams between layers: frame readers, event sinks, the retention purge, thread settings."""

from __future__ import annotations

import time

import numpy as np
import pytest

from reidcam.capture import FrameReader, LatestFrameGrabber, PrefetchReader
from reidcam.config import TrackerConfig
from reidcam.core.events import FanOutSink, FrameResult, SinkError
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame, Sighting
from reidcam.identity.models import PurgeReport
from reidcam.identity.retention import RetentionWorker
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.runtime.threads import apply_thread_settings
from reidcam.track import build_tracker


class CountingSource:
    """A finite source of ``n`` black frames."""

    is_live = False

    def __init__(self, n: int, camera_id: str = "cam") -> None:
        self.camera_id, self.n, self.i = camera_id, n, 0

    def open(self) -> None:
        return None

    def read(self) -> Frame | None:
        if self.i >= self.n:
            return None
        self.i += 1
        return Frame(self.camera_id, self.i - 1, np.zeros((4, 4, 3), np.uint8), time.time())

    def close(self) -> None:
        self.i = self.n

    def status(self) -> SourceStatus:
        return SourceStatus(self.camera_id, SourceState.LIVE, self.i, 0, None, None, "counting")


@pytest.mark.parametrize("reader_cls", [LatestFrameGrabber, PrefetchReader])
def test_both_readers_are_frame_readers_and_a_camera_reads_through_them(reader_cls: type) -> None:
    source = CountingSource(3)
    reader = reader_cls(source)
    assert isinstance(reader, FrameReader)
    unit = CameraUnit("cam", source, build_tracker(TrackerConfig()), SightingBook("cam"), grabber=reader)
    frames = []
    deadline = time.monotonic() + 5.0
    while not unit.ended and time.monotonic() < deadline:
        frame = unit.next_frame(0.2)
        if frame is not None:
            frames.append(frame.index)
    reader.stop()
    assert unit.ended and unit.errors == 0
    assert unit.grabbed == 3 and unit.dropped == 3 - len(frames)
    assert frames == sorted(frames) and frames[-1] == 2


class Recorder:
    """An EventSink that only has the protocol's three methods."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def on_frame(self, result: FrameResult) -> None:
        self.events.append(result)

    def on_sighting_closed(self, sighting: Sighting) -> None:
        self.events.append(sighting)

    def on_status(self, status: SourceStatus) -> None:
        self.events.append(status)


class Broken(Recorder):
    def on_status(self, status: SourceStatus) -> None:
        raise OSError("disk full")


def test_fan_out_calls_each_sink_through_the_protocol_and_reports_the_failing_one() -> None:
    first, after = Recorder(), Recorder()
    status = SourceStatus("cam", SourceState.LIVE, 1, 0, 0.0, None, "x")
    with pytest.raises(SinkError, match=r"1 of 3 sinks failed \(Broken: OSError\('disk full'\)\)"):
        FanOutSink([first, Broken(), after]).on_status(status)
    assert first.events == [status] and after.events == [status]


def test_retention_worker_calls_the_purge_function_it_was_given() -> None:
    calls: list[tuple[float, float | None]] = []

    def purge(*, now: float, max_age_s: float | None) -> PurgeReport:
        calls.append((now, max_age_s))
        return PurgeReport(sightings=2, cutoff_at=now - 60)

    worker = RetentionWorker(purge, max_age_s=60, clock=lambda: 1000.0)
    report = worker.run_once()
    assert calls == [(1000.0, 60)] and report.sightings == 2 and worker.passes == 1


def test_thread_settings_take_plain_arguments() -> None:
    plan = apply_thread_settings(3, pipelined=False, opencv_threads=2)
    assert (plan.inference_threads, plan.pipelined, plan.opencv_threads) == (3, False, 2)
    assert plan.detector_workers == max(1, plan.cpu_count // 3)
    apply_thread_settings()  # back to the defaults for the tests after this one
