"""Image folders of stills: told apart from video frames, and each detection its own sighting."""

import os
import time

import cv2
import numpy as np
import pytest

from reidcam.capture.stills import file_time_gap_s, frame_number_step, looks_like_stills
from reidcam.config import AppConfig
from reidcam.core.types import Detections, Frame
from reidcam.pipeline.build import build_cameras
from reidcam.pipeline.runner import Runner
from reidcam.testing import render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink
from reidcam.track.stills import StillsTracker


def _touch(folder, names, gap_s=0.0):
    folder.mkdir(exist_ok=True)
    t0 = time.time() - 10_000
    paths = []
    for i, name in enumerate(names):
        p = folder / name
        p.write_bytes(b"")
        os.utime(p, (t0 + i * gap_s, t0 + i * gap_s))
        paths.append(p)
    return paths


def test_frame_numbers_far_apart_are_stills(tmp_path):
    market_like = _touch(tmp_path / "m", [f"c1s1_{n:06d}.jpg" for n in (1051, 2301, 2326, 2351, 9376)])
    assert frame_number_step(market_like) == 25
    assert looks_like_stills(market_like)[0] is True


def test_consecutive_or_sampled_video_frames_are_video(tmp_path):
    every = _touch(tmp_path / "a", [f"frame_{n}.png" for n in range(1, 12)])
    every_3rd = _touch(tmp_path / "b", [f"cam2_{n:05d}.jpg" for n in range(0, 30, 3)])
    assert looks_like_stills(every) == (False, "frame numbers in the names step by 1 in the median")
    assert looks_like_stills(every_3rd)[0] is False


def test_file_times_far_apart_are_stills_even_without_numbers(tmp_path):
    photos = _touch(tmp_path / "p", ["door.jpg", "hall.jpg", "yard.jpg", "zoo.jpg"], gap_s=60.0)
    assert file_time_gap_s(photos) == pytest.approx(60.0)
    stills, why = looks_like_stills(photos)
    assert stills is True and "60 s apart" in why
    quick = _touch(tmp_path / "q", ["door.jpg", "hall.jpg", "yard.jpg", "zoo.jpg"], gap_s=0.01)
    assert looks_like_stills(quick)[0] is False


def test_the_stills_tracker_gives_every_detection_a_new_id():
    tracker = StillsTracker()
    frame = Frame("c", 0, np.zeros((50, 50, 3), np.uint8), 0.0)
    dets = Detections(
        np.array([[0, 0, 10, 20], [20, 0, 30, 20]], np.float32), np.array([0.9, 0.8], np.float32)
    )
    first, second = tracker.update(dets, frame), tracker.update(dets, frame)
    assert first.track_id.tolist() == [1, 2] and second.track_id.tolist() == [3, 4]
    assert second.detection_index.tolist() == [0, 1]


def _run_folder(tmp_path, names, stills):
    folder = tmp_path / "cam0"
    folder.mkdir()
    for name, img in zip(names, render(two_camera_scene(), "cam0", len(names)), strict=True):
        cv2.imwrite(str(folder / name), img)
    cfg = AppConfig.model_validate({"cameras": [{"id": "cam0", "source": str(folder), "stills": stills}]})
    rec = RecordingSink()
    Runner(build_cameras(cfg), fake_models(), rec).run()
    return rec


@pytest.mark.parametrize("stills", ["auto", True])
def test_stills_give_one_sighting_per_detection(tmp_path, stills):
    names = (
        [f"c1s1_{25 * i:06d}.png" for i in range(20)] if stills == "auto" else [f"{i}.png" for i in range(20)]
    )
    rec = _run_folder(tmp_path, names, stills)
    n_detections = sum(len(r.observations) for r in rec.frames)
    assert n_detections > 20  # the scene has two people in most frames
    assert len(rec.closed) == n_detections
    assert all(s.first_seen_at == s.last_seen_at for s in rec.closed)
    assert all(o.track_id is not None for r in rec.frames for o in r.observations)


def test_frames_of_a_video_are_still_tracked(tmp_path):
    rec = _run_folder(tmp_path, [f"{i:06d}.png" for i in range(20)], "auto")
    assert len(rec.closed) < sum(len(r.observations) for r in rec.frames) / 3
