"""detector.person_check in the pipeline: boxes found no person stay out of ReID and matching."""

from dataclasses import replace

import numpy as np

from reidcam.config import AppConfig, TrackerConfig
from reidcam.detect.person_check import padded_crops, visible_keypoints
from reidcam.pipeline.build import build_person_check
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.reid.enroll import enroll
from reidcam.testing import FakeSource, crop_of, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink
from reidcam.track import build_tracker

ALICE = (30, 30, 220)


class ColourCheck:
    """'Not a person' = alice's colour: the real pose model is tested in tests/models."""

    def __init__(self, answers_no_for: tuple[int, int, int] = ALICE, flip_after: int | None = None):
        self.colour, self.calls, self.boxes, self.flip_after = np.array(answers_no_for), 0, 0, flip_after

    def check(self, image, xyxy):
        self.calls += 1
        self.boxes += len(xyxy)
        out = []
        for x1, y1, x2, y2 in xyxy.astype(int):
            med = np.median(image[y1:y2, x1:x2].reshape(-1, 3), axis=0)
            is_alice = np.abs(med - self.colour).max() < 5
            out.append(not is_alice or (self.flip_after is not None and self.calls > self.flip_after))
        return np.array(out, bool)


def _run(check, n_frames=30):
    models = replace(fake_models(), person_check=check)
    enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
    walkers = two_camera_scene()
    units = [
        CameraUnit(
            cam,
            FakeSource(cam, render(walkers, cam, n_frames)),
            build_tracker(TrackerConfig(frame_rate=10, track_buffer=10)),
            SightingBook(cam, max_missing_frames=10, embed_interval_frames=5),
        )
        for cam in ("cam0", "cam1")
    ]
    rec = RecordingSink()
    Runner(units, models, rec).run()
    return rec


def _colour(image, xyxy):
    x1, y1, x2, y2 = (int(v) for v in xyxy)
    return tuple(int(c) for c in np.median(image[y1:y2, x1:x2].reshape(-1, 3), axis=0))


def _alice(rec):
    return [o for r in rec.frames for o in r.observations if _colour(r.frame.image, o.xyxy) == ALICE]


def test_a_box_found_no_person_is_never_embedded_or_matched():
    check = ColourCheck()
    rec = _run(check)
    alice = _alice(rec)
    assert alice, "the scene has alice"
    assert all(o.crop is None and not o.matched for o in alice if o.quality_reason == "not_person")
    assert not any(o.matched for o in alice)
    assert sum(o.quality_reason == "not_person" for o in alice) > len(alice) // 2
    others = [o for r in rec.frames for o in r.observations if o not in alice]
    assert others and not any(o.quality_reason == "not_person" for o in others)


def test_checks_are_rationed_per_track():
    check = ColourCheck(answers_no_for=(1, 2, 3))  # everybody is a person: one check per new track
    rec = _run(check)
    tracks = {(r.frame.camera_id, o.track_id) for r in rec.frames for o in r.observations if o.quality_ok}
    assert (
        0 < check.boxes <= len(tracks) + sum(o.track_id is None for r in rec.frames for o in r.observations)
    )


def test_a_later_yes_lets_the_track_in():
    rec = _run(ColourCheck(flip_after=4))
    assert any(o.matched for o in _alice(rec)), "alice must be matched once the check finds her a person"


def test_helpers_and_config():
    img = np.zeros((100, 50, 3), np.uint8)
    (c,) = padded_crops(img, np.array([[10, 20, 30, 80]], np.float32))
    assert c.shape[0] > 60 and c.shape[1] > 20
    assert visible_keypoints(None) == 0
    assert visible_keypoints(np.array([[0.9] * 8 + [0.1] * 9, [0.9] * 3 + [0.0] * 14])) == 8
    assert build_person_check(AppConfig.model_validate({"detector": {"person_check": "off"}})) is None
