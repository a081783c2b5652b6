"""Scheduling: two-stage runner, live cameras dropping stale frames, ReID budget and interval, stats."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest

from reidcam.capture import PacedSource
from reidcam.config import TrackerConfig
from reidcam.core.types import Detections
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import STAGES, Models
from reidcam.reid.enroll import enroll
from reidcam.testing import FakeDetector, FakeEmbedder, FakeSource, crop_of, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink
from reidcam.track import build_tracker

ALICE = (30, 30, 220)
N_FRAMES = 50


class SlowDetector(FakeDetector):
    """A fake detector that takes ``delay_s`` per call and records per-camera input sizes."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.sizes: list[list[int | None]] = []

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        time.sleep(self.delay_s)
        return super().detect(images)

    def detect_sized(self, images: Sequence[np.ndarray], sizes: Sequence[int | None]) -> list[Detections]:
        self.sizes.append(list(sizes))
        return self.detect(images)


def _models(detector=None, embedder=None, budget: int = 32) -> Models:  # type: ignore[no-untyped-def]
    return fake_models(detector, embedder, max_crops_per_step=budget)


def _units(interval: int = 1, live_fps: float | None = None) -> list[CameraUnit]:
    walkers = two_camera_scene()
    units = []
    for cam in ("cam0", "cam1"):
        images = render(walkers, cam, N_FRAMES)
        if live_fps:
            source = PacedSource(cam, lambda c=cam, im=images: FakeSource(c, im), live_fps, loop=False)
        else:
            source = FakeSource(cam, images)
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        book = SightingBook(cam, max_missing_frames=10, embed_interval_frames=interval)
        units.append(CameraUnit(cam, source, tracker, book))  # type: ignore[arg-type]
    return units


def _summary(rec: RecordingSink) -> list[tuple]:
    return [
        (r.frame.camera_id, r.frame.index, o.track_id or 0, o.matched, tuple(np.round(o.xyxy).astype(int)))
        for r in rec.frames
        for o in r.observations
    ]


def _run(models: Models, units: list[CameraUnit], pipelined: bool = True) -> tuple[RecordingSink, Runner]:
    rec = RecordingSink()
    runner = Runner(units, models, rec, pipelined=pipelined)
    runner.run()
    return rec, runner


def test_pipelined_and_sequential_runs_give_the_same_results() -> None:
    out = []
    for pipelined in (True, False):
        models = _models()
        enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
        rec, _ = _run(models, _units(), pipelined)
        out.append(sorted(_summary(rec)))
    assert out[0] == out[1] and any(m for *_, m, _ in out[0])


def test_stats_cover_every_stage_latency_and_crops() -> None:
    rec, runner = _run(_models(), _units())
    summary = runner.stats.summary()
    assert summary["frames"] == 2 * N_FRAMES == len(rec.frames)
    assert set(STAGES) <= set(summary["stage_ms_per_frame"])  # type: ignore[arg-type]
    assert {"detect", "embed", "record"} <= set(summary["stage_ms_per_step"])  # type: ignore[arg-type]
    assert summary["latency_ms"]["median"] >= 0  # type: ignore[index]
    assert summary["reid_crops"] > 0 and summary["frames_per_step"] > 1.5  # type: ignore[operator]
    assert all(set(STAGES) <= set(r.timings_ms) for r in rec.frames)


def test_embed_interval_embeds_far_fewer_crops_and_still_matches() -> None:
    counts = {}
    for interval in (1, 10):
        models = _models()
        enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
        rec, runner = _run(models, _units(interval))
        counts[interval] = runner.stats.crops_embedded
        matched = {r.frame.camera_id for r in rec.frames for o in r.observations if o.matched}
        assert matched == {"cam0", "cam1"}, f"interval {interval}"
    assert counts[10] * 3 <= counts[1], counts


def test_budget_defers_crops_to_later_steps_new_tracks_first() -> None:
    embedder = FakeEmbedder()
    rec, runner = _run(_models(embedder=embedder, budget=1), _units(interval=1000))
    assert max(embedder.batch_sizes) == 1
    assert runner.stats.crops_deferred > 0
    tracked = {(r.frame.camera_id, o.track_id) for r in rec.frames for o in r.observations if o.track_id}
    embedded = {(s.key.camera_id, s.key.track_id) for s in rec.closed if s.n_embeddings}
    assert embedded == tracked, "every track gets its turn"


def test_each_camera_gets_its_own_detector_input_size() -> None:
    detector = SlowDetector()
    units = _units()
    units[0].detector_imgsz = 320
    _run(_models(detector=detector), units)
    assert detector.sizes and all(s == [320, None] for s in detector.sizes if len(s) == 2)


@pytest.mark.parametrize("pipelined", [True, False])
def test_live_cameras_drop_stale_frames_when_the_model_is_slow(pipelined: bool) -> None:
    units = _units(live_fps=200.0)
    rec, _ = _run(_models(detector=SlowDetector(delay_s=0.02)), units, pipelined)
    for unit in units:
        assert unit.grabbed == N_FRAMES
        assert unit.dropped > 0 and unit.frames_processed + unit.dropped == N_FRAMES
    indices = [r.frame.index for r in rec.frames if r.frame.camera_id == "cam0"]
    assert indices == sorted(indices), "frames stay in order"


def test_stop_ends_a_pipelined_live_run_quickly() -> None:
    units = _units(live_fps=20.0)
    for u in units:
        u.source._max_frames = None  # type: ignore[attr-defined]
        u.source._loop = True  # type: ignore[attr-defined]
    runner = Runner(units, _models(), RecordingSink(), pipelined=True)
    runner.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    runner.stop(timeout_s=5.0)
    assert not runner.running and time.monotonic() - t0 < 3.0
    assert all(u.frames_processed > 0 for u in units)


def test_a_detector_crash_in_the_pipelined_thread_is_raised_by_run() -> None:
    class Broken(FakeDetector):
        def detect(self, images):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt  # not an Exception: the per-frame isolation does not catch it

    with pytest.raises(KeyboardInterrupt):
        Runner(_units(), _models(detector=Broken()), RecordingSink(), pipelined=True).run()
