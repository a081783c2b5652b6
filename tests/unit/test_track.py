"""ByteTrack/BoT-SORT adapter on synthetic boxes: id stability, per-instance ids, index mapping."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from reidcam.config.schema import TrackerConfig
from reidcam.core.types import Detections, Frame, Tracks
from reidcam.track import ByteTrackTracker, Tracker, build_tracker

H, W = 480, 640
_IMAGE = np.zeros((H, W, 3), np.uint8)


@pytest.fixture(params=["bytetrack", "botsort"])
def cfg(request: pytest.FixtureRequest) -> TrackerConfig:
    return TrackerConfig(kind=request.param, frame_rate=30)


def _frame(index: int) -> Frame:
    return Frame(camera_id="cam", index=index, image=_IMAGE, captured_at=float(index))


def _box(x: float, y: float, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h]


def _dets(boxes: list[list[float]], conf: float = 0.9) -> Detections:
    if not boxes:
        return Detections.empty()
    return Detections(np.array(boxes, np.float32), np.full(len(boxes), conf, np.float32))


def _walkers(step: int, n: int = 2) -> list[list[float]]:
    """n people walking right at 4 px/frame, 150 px apart."""
    return [_box(20 + 4 * step + 150 * k, 100 + 60 * k) for k in range(n)]


def _ids_by_detection(tracks: Tracks, n_dets: int) -> list[int | None]:
    out: list[int | None] = [None] * n_dets
    for tid, det in zip(tracks.track_id.tolist(), tracks.detection_index.tolist(), strict=True):
        out[det] = tid
    return out


def test_build_tracker_gives_a_tracker(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    assert isinstance(tracker, Tracker)
    assert isinstance(tracker, ByteTrackTracker)


def test_moving_box_keeps_its_id_for_20_frames(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    seen = [_ids_by_detection(tracker.update(_dets(_walkers(i)), _frame(i)), 2) for i in range(20)]
    assert all(ids == seen[0] for ids in seen), seen
    assert sorted(seen[0]) == [1, 2]  # type: ignore[type-var]


def test_track_box_follows_the_detection(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    for i in range(20):
        dets = _dets(_walkers(i))
        tracks = tracker.update(dets, _frame(i))
        assert tracks.xyxy.dtype == np.float32
        np.testing.assert_allclose(tracks.xyxy, dets.xyxy[tracks.detection_index], atol=6.0)
        np.testing.assert_array_equal(tracks.confidence, dets.confidence[tracks.detection_index])


def test_two_trackers_own_their_id_sequences(cfg: TrackerConfig) -> None:
    cam_a, cam_b = build_tracker(cfg), build_tracker(cfg)
    ids_a: set[int] = set()
    ids_b: set[int] = set()
    for i in range(10):
        # camera A sees three people from the start, camera B one person, then a second from frame 5
        ids_a |= set(cam_a.update(_dets(_walkers(i, n=3)), _frame(i)).track_id.tolist())
        ids_b |= set(cam_b.update(_dets(_walkers(i, n=1 if i < 5 else 2)), _frame(i)).track_id.tolist())
    assert ids_a == {1, 2, 3}
    assert ids_b == {1, 2}  # not 4, 5: A's tracks did not advance B's counter


def test_reset_of_one_tracker_leaves_the_other_intact(cfg: TrackerConfig) -> None:
    cam_a, cam_b = build_tracker(cfg), build_tracker(cfg)
    for i in range(5):
        cam_a.update(_dets(_walkers(i)), _frame(i))
        before = _ids_by_detection(cam_b.update(_dets(_walkers(i, n=3)), _frame(i)), 3)
    cam_a.reset()
    for i in range(5, 10):
        after = _ids_by_detection(cam_b.update(_dets(_walkers(i, n=3)), _frame(i)), 3)
        assert after == before
    restarted = cam_a.update(_dets([_box(400, 300)]), _frame(0))
    assert restarted.track_id.tolist() == [1]


def test_reset_forgets_old_tracks(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    for i in range(5):
        tracker.update(_dets(_walkers(i, n=3)), _frame(i))
    tracker.reset()
    tracks = tracker.update(_dets(_walkers(5, n=1)), _frame(0))
    assert tracks.track_id.tolist() == [1]


def test_empty_detections(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    empty = tracker.update(Detections.empty(), _frame(0))
    assert len(empty) == 0
    assert empty.track_id.dtype == np.int64 and empty.xyxy.shape == (0, 4)
    first = _ids_by_detection(tracker.update(_dets(_walkers(1)), _frame(1)), 2)
    assert len(tracker.update(Detections.empty(), _frame(2))) == 0
    # back after one missed frame: same ids (within the track buffer)
    assert _ids_by_detection(tracker.update(_dets(_walkers(3)), _frame(3)), 2) == first


def test_only_tracks_with_a_detection_this_frame_are_output(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    for i in range(5):
        tracker.update(_dets(_walkers(i, n=3)), _frame(i))
    tracks = tracker.update(_dets(_walkers(5, n=3)[:1]), _frame(5))
    assert len(tracks) == 1
    assert tracks.detection_index.tolist() == [0]


def test_detection_index_maps_back_when_order_changes(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    rng = np.random.default_rng(0)
    owner: dict[int, int] = {}  # person k -> track id
    for i in range(20):
        boxes = _walkers(i, n=4)
        order = rng.permutation(4)
        dets = _dets([boxes[k] for k in order])
        tracks = tracker.update(dets, _frame(i))
        assert len(tracks) == 4 and np.all(tracks.detection_index >= 0)
        for tid, det in zip(tracks.track_id.tolist(), tracks.detection_index.tolist(), strict=True):
            person = int(order[det])
            assert owner.setdefault(person, tid) == tid
    assert sorted(owner.values()) == [1, 2, 3, 4]


def test_low_confidence_detection_does_not_start_a_track(cfg: TrackerConfig) -> None:
    tracker = build_tracker(cfg)
    for i in range(3):
        tracks = tracker.update(_dets([_box(100, 100)], conf=cfg.new_track_thresh / 2), _frame(i))
        assert len(tracks) == 0


def test_new_track_needs_a_second_frame_after_the_first(cfg: TrackerConfig) -> None:
    """ByteTrack confirms tracks born after frame 1 only when seen again."""
    tracker = build_tracker(cfg)
    tracker.update(_dets(_walkers(0, n=1)), _frame(0))
    newcomer = _box(500, 300)
    assert len(tracker.update(_dets([*_walkers(1, n=1), newcomer]), _frame(1))) == 1
    assert sorted(tracker.update(_dets([*_walkers(2, n=1), newcomer]), _frame(2)).track_id.tolist()) == [1, 2]


class _GlobalCounterTracker:
    """Stands in for Ultralytics releases whose ids come from one counter shared by all trackers."""

    counter: ClassVar[itertools.count[int]] = itertools.count(1)

    def __init__(self, args: SimpleNamespace) -> None:
        self.ids: dict[int, int] = {}

    def update(self, results: Any, img: np.ndarray) -> np.ndarray:
        rows = []
        for i in range(len(results)):
            raw = self.ids.setdefault(i, next(self.counter))
            rows.append([*results.xyxy[i].tolist(), raw, results.conf[i], 0, i])
        return np.asarray(rows, np.float32)


def test_ids_are_per_instance_even_if_the_library_counts_globally() -> None:
    cam_a, cam_b = ByteTrackTracker(TrackerConfig()), ByteTrackTracker(TrackerConfig())
    for tracker in (cam_a, cam_b):
        tracker._tracker_cls = _GlobalCounterTracker
        tracker.reset()
    for i in range(3):
        a = cam_a.update(_dets(_walkers(i, n=2)), _frame(i))
        b = cam_b.update(_dets(_walkers(i, n=2)), _frame(i))
        assert a.track_id.tolist() == [1, 2]
        assert b.track_id.tolist() == [1, 2]


def test_id_map_does_not_grow_without_bound() -> None:
    tracker = ByteTrackTracker(TrackerConfig(track_buffer=5, frame_rate=30))
    for i in range(200):
        # a new person appears every 4 frames and vanishes after 3
        tracker.update(_dets([_box(10 + 150 * ((i // 4) % 4), 100)]), _frame(i))
    assert tracker._next_id > 40  # many tracks came and went
    assert len(tracker._id_map) <= 4
