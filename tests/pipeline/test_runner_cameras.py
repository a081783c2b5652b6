"""The runner's camera set changes while it runs: add and remove cameras, the others go on.

Fake models and the synthetic scene, replayed as live looping cameras (``PacedSource`` read
through a ``LatestFrameGrabber``), and a file camera read through a ``PrefetchReader``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from reidcam.capture import PacedSource
from reidcam.config import TrackerConfig
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.camera_set import DuplicateCamera, UnknownCamera
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.track import build_tracker

N_FRAMES = 50
SCENES = {cam: render(two_camera_scene(), cam, N_FRAMES) for cam in ("cam0", "cam1")}
OPEN_S = 0.6  # how long a slow camera takes to open (an RTSP connect)


class Recorder:
    """EventSink that keeps everything (the runner thread appends, the test reads copies)."""

    def __init__(self) -> None:
        self.frames: list = []
        self.closed: list = []
        self.status: list = []

    def on_frame(self, r) -> None:
        self.frames.append(r)

    def on_sighting_closed(self, s) -> None:
        self.closed.append(s)

    def on_status(self, s) -> None:
        self.status.append(s)


class SlowOpenSource(FakeSource):
    """A fake camera whose first open takes ``OPEN_S`` (later passes of a loop open at once)."""

    opened = 0

    def open(self) -> None:
        if SlowOpenSource.opened == 0:
            time.sleep(OPEN_S)
        SlowOpenSource.opened += 1
        super().open()


class Unopenable(FakeSource):
    def open(self) -> None:
        raise OSError("cannot open rtsp://admin:s3cret@10.0.0.9/stream: connection refused")


class CloseCounting(FakeSource):
    """A finite camera that counts how often it was closed (its file handle released)."""

    closes = 0

    def close(self) -> None:
        CloseCounting.closes += 1
        super().close()


def unit(cam: str, source: object) -> CameraUnit:
    tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
    return CameraUnit(cam, source, tracker, SightingBook(cam, max_missing_frames=10))  # type: ignore[arg-type]


def live(
    cam: str, scene: str | None = None, fps: float = 40.0, kind: type[FakeSource] = FakeSource
) -> CameraUnit:
    frames = SCENES[scene or cam]
    return unit(cam, PacedSource(cam, lambda: kind(cam, frames), fps, True))


def wait_for(check: Callable[[], object], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def counts(runner: Runner) -> dict[str, int]:
    return {u.camera_id: u.frames_processed for u in runner.cameras}


@pytest.fixture
def running() -> Iterator[tuple[Runner, Recorder]]:
    """A runner on two live cameras, started, with frames flowing on both; stopped after."""
    rec = Recorder()
    runner = Runner([live("cam0"), live("cam1")], fake_models(), rec, status_interval_s=0.05)
    runner.start()
    wait_for(lambda: min(counts(runner).values()) >= 5, what="frames on both cameras")
    yield runner, rec
    runner.stop()
    assert runner.error is None


def thread_names() -> set[str]:
    return {t.name for t in threading.enumerate()}


@pytest.mark.parametrize("pipelined", [True, False])
def test_added_camera_runs_and_the_others_keep_running_while_it_opens(pipelined: bool) -> None:
    rec = Recorder()
    runner = Runner([live("cam0"), live("cam1")], fake_models(), rec, pipelined=pipelined)
    runner.start()
    try:
        wait_for(lambda: min(counts(runner).values()) >= 5, what="frames on both cameras")
        SlowOpenSource.opened = 0
        before = counts(runner)
        t0 = time.monotonic()
        added = runner.add_camera(live("cam2", scene="cam0", kind=SlowOpenSource))
        assert time.monotonic() - t0 >= OPEN_S * 0.9, "the slow open happened in add_camera"
        during = counts(runner)
        assert during["cam0"] > before["cam0"] and during["cam1"] > before["cam1"], (before, during)
        wait_for(lambda: added.frames_processed >= 10, what="frames of the added camera")
        assert [u.camera_id for u in runner.cameras] == ["cam0", "cam1", "cam2"]
        assert any(r.frame.camera_id == "cam2" and r.observations for r in list(rec.frames))
        assert {s.camera_id for s in runner.status()} == {"cam0", "cam1", "cam2"}
        wait_for(lambda: any(s.camera_id == "cam2" for s in list(rec.status)), what="cam2's status event")
    finally:
        runner.stop()
    assert runner.error is None


def test_removed_camera_closes_every_sighting_into_the_sink_and_the_others_go_on(running) -> None:
    runner, rec = running
    cam1 = next(u for u in runner.cameras if u.camera_id == "cam1")
    wait_for(lambda: len(cam1.book) > 0, what="an open sighting on cam1")
    before = counts(runner)
    removed = runner.remove_camera("cam1")
    assert removed is cam1
    assert len(cam1.book) == 0, "no sighting left open"
    seen = {o.track_id for r in list(rec.frames) if r.frame.camera_id == "cam1" for o in r.observations}
    closed = {s.key.track_id for s in list(rec.closed) if s.key.camera_id == "cam1"}
    assert seen - {None} and seen - {None} <= closed, f"tracks seen {seen}, sightings closed {closed}"
    frozen = cam1.frames_processed
    wait_for(lambda: counts(runner)["cam0"] >= before["cam0"] + 10, what="cam0 going on")
    assert cam1.frames_processed == frozen, "a removed camera is not read any more"
    assert [u.camera_id for u in runner.cameras] == ["cam0"]
    assert [s.camera_id for s in runner.status()] == ["cam0"]
    assert runner.running


def test_no_thread_is_left_behind() -> None:
    base = thread_names()
    runner = Runner([live("cam0"), live("cam1")], fake_models(), Recorder())
    runner.start()
    try:
        wait_for(lambda: min(counts(runner).values()) >= 3, what="frames on both cameras")
        steady = thread_names()
        assert {"grabber-cam0", "grabber-cam1"} <= steady
        runner.add_camera(live("cam2", scene="cam0"))
        assert "grabber-cam2" in thread_names()
        runner.remove_camera("cam2")
        assert thread_names() == steady
        runner.remove_camera("cam0")
        assert thread_names() == steady - {"grabber-cam0"}
    finally:
        runner.stop()
    wait_for(lambda: thread_names() == base, timeout_s=5.0, what=f"no new thread: {thread_names() - base}")


def test_removed_file_camera_releases_its_reader_and_source(running) -> None:
    runner, _ = running
    CloseCounting.closes = 0
    frames = SCENES["cam0"] * 20  # long enough to be still playing when removed
    cam = runner.add_camera(unit("file", CloseCounting("file", frames)))
    wait_for(lambda: cam.frames_processed >= 3, what="frames of the file camera")
    assert "prefetch-file" in thread_names()
    runner.remove_camera("file")
    assert "prefetch-file" not in thread_names()
    assert CloseCounting.closes >= 1


def test_camera_that_cannot_open_is_failed_like_at_startup_and_disturbs_nobody(running) -> None:
    runner, _ = running
    before = counts(runner)
    bad = runner.add_camera(unit("bad", Unopenable("bad", [])))
    status = {s.camera_id: s for s in runner.status()}["bad"]
    assert status.state.value == "failed" and "connection refused" in (status.last_error or "")
    assert "s3cret" not in (status.last_error or "")
    assert bad.errors == 1 and bad.ended
    wait_for(lambda: all(counts(runner)[c] >= before[c] + 10 for c in before), what="the others going on")
    assert runner.running
    runner.remove_camera("bad")  # a failed camera can be removed like any other
    assert "bad" not in counts(runner)


def test_duplicate_and_unknown_ids_are_refused_clearly(running) -> None:
    runner, _ = running
    with pytest.raises(DuplicateCamera, match="'cam0' already exists"):
        runner.add_camera(live("cam0"))
    with pytest.raises(UnknownCamera, match="no camera 'nope'"):
        runner.remove_camera("nope")
    assert sorted(counts(runner)) == ["cam0", "cam1"]
    assert "grabber-cam0" in thread_names()


def test_duplicate_ids_at_construction_are_refused() -> None:
    with pytest.raises(DuplicateCamera, match="unique"):
        Runner([live("cam0"), live("cam0")], fake_models())


def test_changes_before_the_run_are_applied_when_it_runs() -> None:
    rec = Recorder()
    runner = Runner([unit("a", FakeSource("a", SCENES["cam0"]))], fake_models(), rec)
    runner.add_camera(unit("b", FakeSource("b", SCENES["cam1"])))
    runner.add_camera(unit("c", FakeSource("c", SCENES["cam1"])))
    runner.remove_camera("c")
    runner.run()
    per_cam = {c: sum(r.frame.camera_id == c for r in rec.frames) for c in ("a", "b", "c")}
    assert per_cam == {"a": N_FRAMES, "b": N_FRAMES, "c": 0}


def test_waiting_runner_survives_losing_every_camera_and_takes_a_new_one() -> None:
    runner = Runner([live("cam0")], fake_models(), Recorder(), wait_for_cameras=True)
    runner.start()
    try:
        wait_for(lambda: counts(runner)["cam0"] >= 3, what="frames on cam0")
        runner.remove_camera("cam0")
        time.sleep(0.2)
        assert runner.running and runner.cameras == []
        cam = runner.add_camera(live("cam1"))
        wait_for(lambda: cam.frames_processed >= 3, what="frames of the new camera")
    finally:
        runner.stop()
    assert runner.error is None


def test_run_without_waiting_ends_when_the_last_camera_is_removed() -> None:
    runner = Runner([live("cam0")], fake_models(), Recorder())
    runner.start()
    wait_for(lambda: counts(runner)["cam0"] >= 3, what="frames on cam0")
    runner.remove_camera("cam0")
    assert runner.wait(5.0), "a search run ends once no camera is left"
    assert runner.error is None


def test_add_and_remove_after_the_run_ended_touch_only_the_set() -> None:
    rec = Recorder()
    runner = Runner([unit("a", FakeSource("a", SCENES["cam0"]))], fake_models(), rec)
    runner.run()
    late = runner.add_camera(unit("late", CloseCounting("late", SCENES["cam0"])))
    assert late.frames_processed == 0 and late.grabber is None  # not opened: no loop to read it
    CloseCounting.closes = 0
    runner.remove_camera("late")
    assert CloseCounting.closes == 1
    assert [u.camera_id for u in runner.cameras] == ["a"]


@pytest.mark.parametrize("pipelined", [True, False])
def test_many_quick_changes_lose_nothing_and_leave_nothing(pipelined: bool) -> None:
    """Add and remove a camera 15 times while two others run: no error, no thread left, every
    track the removed cameras showed is in a closed sighting."""
    base = thread_names()
    rec = Recorder()
    runner = Runner([live("cam0"), live("cam1")], fake_models(), rec, pipelined=pipelined)
    runner.start()
    try:
        wait_for(lambda: min(counts(runner).values()) >= 3, what="frames on both cameras")
        steady = thread_names()
        for i in range(15):
            cam = runner.add_camera(live(f"x{i}", scene="cam0", fps=100.0))
            wait_for(lambda cam=cam: cam.frames_processed >= 2, what=f"frames of x{i}")
            runner.remove_camera(f"x{i}")
        assert thread_names() == steady
        assert sorted(counts(runner)) == ["cam0", "cam1"]
    finally:
        runner.stop()
    assert runner.error is None
    assert all(u.errors == 0 for u in runner.cameras)
    frames, closed = list(rec.frames), list(rec.closed)
    for i in range(15):
        seen = {o.track_id for r in frames if r.frame.camera_id == f"x{i}" for o in r.observations} - {None}
        done = {s.key.track_id for s in closed if s.key.camera_id == f"x{i}"}
        assert seen <= done, f"x{i}: tracks {seen - done} never closed"
    wait_for(lambda: thread_names() == base, timeout_s=5.0, what=f"no new thread: {thread_names() - base}")
