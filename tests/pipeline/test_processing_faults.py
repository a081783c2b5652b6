"""A fault in one camera's processing is logged with its id and skipped; nothing else stops.

Every test drives the real Runner with two cameras: camA gets the fault on some frames,
camB never does. Each checks that the fault is logged naming camA (never camB), that
camA's error counter grows, that camB's frames are all processed, that camA goes on with
its frames after the faulty ones, and that the run ends normally.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.typing import NDArray

from reidcam.config import TrackerConfig
from reidcam.core.events import FanOutSink
from reidcam.core.types import Detections, Frame, Tracks
from reidcam.detect.base import finite_rows
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import Models
from reidcam.reid.crop_gate import CropGate, crop_quality, extract_crops
from reidcam.reid.enroll import enroll
from reidcam.testing import FakeDetector, FakeEmbedder, FakeSource, crop_of
from reidcam.testing.fakes import BACKGROUND
from reidcam.testing.models import fake_models
from reidcam.testing.scene import Walker, render
from reidcam.testing.sinks import RecordingSink
from reidcam.track import build_tracker

N = 24
BAD = {5, 6, 11}  # camA frames that get the fault
A_SIZE, B_SIZE = (260, 320), (240, 320)  # camA's frames are told apart by their height
RED, GREEN = (30, 30, 220), (40, 200, 40)


def _frames(cam: str, colour: tuple[int, int, int], size: tuple[int, int]) -> list[NDArray[np.uint8]]:
    """One person walking; pixel (0, 0) carries the frame index (too small to be detected)."""
    walker = Walker(cam, colour, cam, 0, N, (20, 40), (250, 60))
    images = render([walker], cam, N, size)
    for i, img in enumerate(images):
        img[0, 0] = (BACKGROUND + 10 + i, BACKGROUND, BACKGROUND)
    return images


def _index(image: NDArray[np.uint8]) -> int:
    return int(image[0, 0, 0]) - BACKGROUND - 10


def _is_bad(image: NDArray[np.uint8]) -> bool:
    return image.shape[:2] == A_SIZE and _index(image) in BAD


def _units(tracker_a=None) -> list[CameraUnit]:
    units = []
    for cam, colour, size in (("camA", RED, A_SIZE), ("camB", GREEN, B_SIZE)):
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        if cam == "camA" and tracker_a is not None:
            tracker = tracker_a(tracker)
        src = FakeSource(cam, _frames(cam, colour, size))
        units.append(CameraUnit(cam, src, tracker, SightingBook(cam, max_missing_frames=3)))
    return units


def _models(detector=None, embedder=None) -> Models:
    models = fake_models(detector, embedder)
    enroll(models.gallery, models.embedder, "carol", [crop_of(GREEN)])
    return models


def _run(models: Models, units: list[CameraUnit], sink=None, pipelined: bool = True) -> Runner:
    runner = Runner(units, models, sink if sink is not None else RecordingSink(), pipelined=pipelined)
    runner.start()
    assert runner.wait(60), "the run must end by itself once both sources are exhausted"
    assert runner.error is None, f"the runner stopped with {runner.error!r}"
    return runner


def _camera_lines(caplog: pytest.LogCaptureFixture, cam: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and cam in r.getMessage()]


def _assert_isolated(caplog, runner: Runner, rec: RecordingSink, words: str, a_published: int) -> None:
    a, b = runner.cameras
    lines = _camera_lines(caplog, "camera camA")
    assert any(words in line for line in lines), f"no log line naming camA about {words!r}: {lines}"
    assert not _camera_lines(caplog, "camB"), "camB had no fault and must not be blamed"
    assert a.errors >= 1 and b.errors == 0
    assert rec.indices("camB") == list(range(N)), "the other camera is fully processed"
    assert a.frames_processed == N == b.frames_processed
    assert len(rec.indices("camA")) == a_published
    assert rec.indices("camA")[-3:] == [N - 3, N - 2, N - 1], "camA goes on after its faulty frames"


def _carol_matched(rec: RecordingSink) -> bool:
    return any(o.matched for r in rec.frames if r.frame.camera_id == "camB" for o in r.observations)


# -- (1) the detector raises on camA's frames only ------------------------------------------------
class RaisingDetector(FakeDetector):
    def detect(self, images):
        if any(_is_bad(img) for img in images):
            raise RuntimeError("model exploded")
        return super().detect(images)


@pytest.mark.parametrize("pipelined", [True, False])
def test_detector_exception_on_one_camera_skips_only_its_frames(caplog, pipelined):
    rec = RecordingSink()
    runner = _run(_models(detector=RaisingDetector()), _units(), rec, pipelined)
    _assert_isolated(caplog, runner, rec, "detection failed", N - len(BAD))
    assert runner.cameras[0].errors == len(BAD)
    assert not set(rec.indices("camA")) & BAD
    assert _carol_matched(rec)


# -- (2) the embedder raises on batches holding camA's crops -------------------------------------
class PickyEmbedder(FakeEmbedder):
    """Fails on any batch with a red crop (camA's person), like a model choking on one input."""

    def embed(self, crops):
        colours = [tuple(int(v) for v in np.median(c.reshape(-1, 3), axis=0)) for c in crops]
        if RED in colours:
            self.calls += 1
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().embed(crops)


def test_embedder_exception_costs_only_that_cameras_embeddings(caplog):
    rec = RecordingSink()
    runner = _run(_models(embedder=PickyEmbedder()), _units(), rec)
    _assert_isolated(caplog, runner, rec, "ReID embedding failed", N)
    a_obs = [o for r in rec.frames if r.frame.camera_id == "camA" for o in r.observations]
    assert a_obs and all(o.track_id is not None for o in a_obs[2:]), "camA frames still tracked"
    assert all(o.decision is None for o in a_obs), "camA never got an embedding"
    assert _carol_matched(rec), "camB's crops were embedded and matched in the same steps"
    assert all(s.prototype is None for s in rec.closed if s.key.camera_id == "camA")


class FlakyEmbedder(FakeEmbedder):
    """Fails once on its 3rd call (a transient fault): the per-camera retry recovers both."""

    def embed(self, crops):
        if self.calls == 2:
            self.calls += 1
            raise RuntimeError("transient")
        return super().embed(crops)


def test_transient_embedder_failure_is_retried_per_camera(caplog):
    caplog.set_level(logging.INFO, logger="reidcam.pipeline.step")
    rec = RecordingSink()
    embedder = FlakyEmbedder()
    runner = _run(_models(embedder=embedder), _units(), rec)
    assert [u.errors for u in runner.cameras] == [0, 0]
    assert any("retrying per camera" in r.getMessage() for r in caplog.records)
    assert max(embedder.batch_sizes) >= 2 and 1 in embedder.batch_sizes
    assert len(rec.frames) == 2 * N and _carol_matched(rec)


# -- (3) the detector gives NaN / inf boxes --------------------------------------------------------
class NanDetector(FakeDetector):
    """Like a real adapter: raw model rows (one of them NaN or inf) through ``finite_rows``."""

    def detect(self, images):
        out = super().detect(images)
        for i, img in enumerate(images):
            if _is_bad(img):
                raw = np.vstack([out[i].xyxy, [[np.nan, 5, 30, 80], [10, 10, np.inf, 90]]])
                conf = np.r_[out[i].confidence, 0.9, 0.9].astype(np.float32)
                keep = finite_rows(raw, conf, "nan-detector")
                out[i] = Detections(raw[keep], conf[keep])
        return out


def test_nan_rows_are_dropped_by_the_adapter_and_the_frame_is_kept(caplog):
    rec = RecordingSink()
    runner = _run(_models(detector=NanDetector()), _units(), rec)
    assert [u.errors for u in runner.cameras] == [0, 0]
    assert sum("NaN or infinite" in r.getMessage() for r in caplog.records) == len(BAD)
    assert rec.indices("camA") == list(range(N))
    for r in rec.frames:  # only the real person is left in the bad frames
        assert len(r.observations) == 1 and np.isfinite(r.observations[0].xyxy).all()


class _T:
    """A torch-like tensor (``.cpu().numpy()``) for the Ultralytics adapter's result parsing."""

    def __init__(self, arr) -> None:
        self.arr = np.asarray(arr)

    def cpu(self):
        return self

    def numpy(self):
        return self.arr


class _Boxes(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.conf.arr)


RAW = np.array([[10, 10, 50, 110], [np.nan, 5, 30, 80], [10, 10, np.inf, 90], [60, 10, 100, 110]], np.float32)
RAW_CONF = np.array([0.9, 0.9, 0.9, np.nan], np.float32)


def test_real_adapters_drop_non_finite_rows_and_keep_the_rest(caplog):
    from reidcam.detect.ultralytics_yolo import UltralyticsDetector
    from reidcam.detect.yolox import YoloxDetector

    limits = SimpleNamespace(min_box_height_px=0.0, min_box_width_px=0.0, person_class_id=0)
    with np.errstate(invalid="ignore"):
        yolox = YoloxDetector._filter(limits, RAW.copy(), RAW_CONF.copy())
        boxes = _Boxes(xyxy=_T(RAW), conf=_T(RAW_CONF), cls=_T(np.zeros(4)))
        yolo = UltralyticsDetector._to_detections(limits, SimpleNamespace(boxes=boxes))
    for dets in (yolox, yolo):
        assert dets.xyxy.tolist() == [[10, 10, 50, 110]]
    assert [r.getMessage() for r in caplog.records if "dropped 3 of 4" in r.getMessage()] != []
    assert {r.getMessage().split(":")[0] for r in caplog.records} >= {"yolox", "yolo"}


class NanRaisingDetector(FakeDetector):
    """A detector that builds Detections from NaN rows as they come: Detections raises."""

    def detect(self, images):
        return [
            Detections(np.array([[np.nan, 1, 20, 60]], np.float32), np.ones(1, np.float32))
            if _is_bad(img)
            else self._one(img)
            for img in images
        ]


def test_nan_box_that_reaches_detections_skips_that_cameras_frame(caplog):
    rec = RecordingSink()
    runner = _run(_models(detector=NanRaisingDetector()), _units(), rec)
    _assert_isolated(caplog, runner, rec, "detection failed", N - len(BAD))
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info and "camA" in r.getMessage()]
    assert errors and all("NaN" in str(e) for e in errors), "the cause is in the log record"


# -- (4) zero-sized, degenerate and out-of-frame boxes --------------------------------------------
DEGENERATE = [
    [50, 20, 50, 120],
    [400, 300, 450, 400],
    [-60, -60, -5, -5],
    [10, 10, 10, 10],
    [320, 10, 330, 90],
]


class DegenerateDetector(FakeDetector):
    def detect(self, images):
        out = super().detect(images)
        for i, img in enumerate(images):
            if _is_bad(img):
                xyxy = np.vstack([out[i].xyxy, DEGENERATE]).astype(np.float32)
                out[i] = Detections(xyxy, np.full(len(xyxy), 0.9, np.float32))
        return out


def test_degenerate_boxes_are_dropped_with_a_log_line_and_the_frame_goes_on(caplog):
    rec = RecordingSink()
    runner = _run(_models(detector=DegenerateDetector()), _units(), rec)
    _assert_isolated(caplog, runner, rec, "no pixels inside the 320x260 frame", N)
    assert runner.cameras[0].errors == len(BAD)
    for r in rec.frames:  # the person is kept, the boxes without pixels are gone
        assert len(r.observations) == 1 and r.observations[0].crop is not None
    assert _carol_matched(rec)


def test_crop_stage_takes_degenerate_boxes_without_failing():
    """What reaches crop extraction from any path: no pixels gives None and a failing gate."""
    image = np.full((260, 320, 3), BACKGROUND, np.uint8)
    boxes = np.array([[100, 50, 140, 150], *DEGENERATE], np.float32)
    crops = extract_crops(image, boxes)
    assert crops[0] is not None and crops[0].shape == (100, 40, 3)
    assert crops[1:] == [None] * len(DEGENERATE)
    judged = crop_quality(boxes, 320, 260, CropGate(min_height_px=20, min_width_px=10, min_aspect=1.2))
    assert judged.ok.tolist() == [True] + [False] * len(DEGENERATE)
    assert np.isfinite(judged.score).all() and np.isfinite(judged.overlap).all()


# -- (5) the tracker raises ----------------------------------------------------------------------
class RaisingTracker:
    def __init__(self, inner) -> None:
        self.inner = inner

    def update(self, detections: Detections, frame: Frame) -> Tracks:
        if _is_bad(frame.image):
            raise IndexError("tracker state corrupted")
        return self.inner.update(detections, frame)

    def reset(self) -> None:
        self.inner.reset()


def test_tracker_exception_skips_only_that_cameras_frame(caplog):
    rec = RecordingSink()
    runner = _run(_models(), _units(tracker_a=RaisingTracker), rec)
    _assert_isolated(caplog, runner, rec, "tracking failed", N - len(BAD))
    assert runner.cameras[0].errors == len(BAD)
    assert _carol_matched(rec)


# -- (6) an event sink raises ---------------------------------------------------------------------
class BrokenSink(RecordingSink):
    """A storage/web consumer that breaks on camA's events (a full disk, a bug)."""

    def on_frame(self, result) -> None:
        if _is_bad(result.frame.image):
            raise OSError(28, "No space left on device")
        super().on_frame(result)

    def on_sighting_closed(self, sighting) -> None:
        if sighting.key.camera_id == "camA":
            raise RuntimeError("database is locked")
        super().on_sighting_closed(sighting)


def test_sink_exception_is_logged_per_camera_and_the_run_goes_on(caplog):
    rec = BrokenSink()
    runner = _run(_models(), _units(), rec)
    _assert_isolated(caplog, runner, rec, "event sink failed in on_frame", N - len(BAD))
    assert any("on_sighting_closed" in line for line in _camera_lines(caplog, "camera camA"))
    assert runner.cameras[0].errors >= len(BAD) + 1
    assert [s.key.camera_id for s in rec.closed] == ["camB"]


def test_fan_out_sink_feeds_the_healthy_sink_and_reports_the_broken_one(caplog):
    broken, healthy = BrokenSink(), RecordingSink()
    runner = _run(_models(), _units(), FanOutSink([broken, healthy]))
    _assert_isolated(caplog, runner, healthy, "BrokenSink", N)
    assert len(broken.indices("camA")) == N - len(BAD)
    assert {s.key.camera_id for s in healthy.closed} == {"camA", "camB"}


class _BadStatusSource(FakeSource):
    def status(self):
        raise RuntimeError("status broke")


def test_a_failing_camera_status_does_not_stop_the_run(caplog):
    units = _units()
    a = units[0]
    a.source = _BadStatusSource("camA", _frames("camA", RED, A_SIZE))
    rec = RecordingSink()
    runner = _run(_models(), units, rec)
    assert any("camera camA: reading its status failed" in line for line in _camera_lines(caplog, "camA"))
    assert rec.indices("camA") == list(range(N)) and rec.indices("camB") == list(range(N))
    assert runner.cameras[1].errors == 0
