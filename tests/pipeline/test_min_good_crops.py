"""matcher.min_good_crops: a sighting decided on fewer good crops is at most "uncertain"."""

from dataclasses import replace

from reidcam.config import AppConfig, TrackerConfig
from reidcam.core import Verdict
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.reid.enroll import enroll
from reidcam.testing import FakeSource, crop_of, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink
from reidcam.track import build_tracker

ALICE = (30, 30, 220)
N_FRAMES = 30


def _run(min_good_crops: int) -> RecordingSink:
    models = replace(fake_models(), min_good_crops=min_good_crops)
    enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
    walkers = two_camera_scene()
    units = [
        CameraUnit(
            cam,
            FakeSource(cam, render(walkers, cam, N_FRAMES)),
            build_tracker(TrackerConfig(frame_rate=10, track_buffer=10)),
            SightingBook(cam, max_missing_frames=10),
        )
        for cam in ("cam0", "cam1")
    ]
    rec = RecordingSink()
    Runner(units, models, rec).run()
    return rec


def _alice_verdicts(rec: RecordingSink) -> dict[tuple[str, int], list[tuple[Verdict, str]]]:
    """Per (camera, track): the verdicts of alice's observations with a sighting decision, in order."""
    out: dict[tuple[str, int], list[tuple[Verdict, str]]] = {}
    for r in rec.frames:
        for o in r.observations:
            d = o.decision
            if d is not None and d.query_id == "alice" and o.track_id is not None and d.similarity >= 0.8:
                out.setdefault((r.frame.camera_id, o.track_id), []).append((d.verdict, d.reason))
    return out


def test_first_crops_are_uncertain_until_enough_good_crops():
    verdicts = _alice_verdicts(_run(min_good_crops=3))
    assert verdicts, "alice was never scored"
    for seq in verdicts.values():
        assert seq[0][0] is Verdict.UNCERTAIN and "good crops" in seq[0][1]
        assert all(v is not Verdict.MATCH for v, _ in seq[:2])
    assert any(v is Verdict.MATCH for seq in verdicts.values() for v, _ in seq[2:]), "never matched later"


def test_one_good_crop_is_enough_at_one():
    verdicts = _alice_verdicts(_run(min_good_crops=1))
    assert verdicts and all(seq[0][0] is Verdict.MATCH for seq in verdicts.values())


def test_config_key_reaches_the_models():
    assert AppConfig().matcher.min_good_crops >= 1
    assert AppConfig.model_validate({"matcher": {"min_good_crops": 4}}).matcher.min_good_crops == 4
