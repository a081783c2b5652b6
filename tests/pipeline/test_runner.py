"""End-to-end pipeline on the synthetic two-camera scene with fake models."""

import json

import numpy as np
import pytest

from reidcam.config import TrackerConfig
from reidcam.core import Verdict
from reidcam.outputs.search_folders import SearchOutputSink
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.reid.enroll import enroll
from reidcam.testing import FakeDetector, FakeEmbedder, FakeSource, crop_of, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.testing.sinks import RecordingSink
from reidcam.track import build_tracker

ALICE = (30, 30, 220)
N_FRAMES = 50


def _models(detector=None, embedder=None):
    return fake_models(detector, embedder)


def _units(fail_at=None):
    walkers = two_camera_scene()
    units = []
    for cam in ("cam0", "cam1"):
        src = FakeSource(cam, render(walkers, cam, N_FRAMES), fail_at=fail_at if cam == "cam0" else None)
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        units.append(CameraUnit(cam, src, tracker, SightingBook(cam, max_missing_frames=10)))
    return units


def _colour_at(result, obs):
    x1, y1, x2, y2 = obs.xyxy.astype(int)
    return tuple(int(c) for c in np.median(result.frame.image[y1:y2, x1:x2].reshape(-1, 3), axis=0))


def _run(models, units, sink=None):
    rec = sink or RecordingSink()
    Runner(units, models, rec).run()
    return rec


def test_query_person_is_matched_on_both_cameras_and_nobody_else():
    models = _models()
    enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
    rec = _run(models, _units())
    matched_cams, false_matches = set(), 0
    for r in rec.frames:
        for o in r.observations:
            is_alice = _colour_at(r, o) == ALICE
            if o.matched:
                matched_cams.add(r.frame.camera_id)
                false_matches += not is_alice
            elif is_alice and o.quality_ok:
                pytest.fail(f"alice missed on {r.frame.camera_id} frame {r.frame.index}: {o.decision}")
    assert matched_cams == {"cam0", "cam1"}
    assert false_matches == 0
    assert rec.closed and all(s.decision is not None for s in rec.closed if s.n_embeddings)


def test_each_camera_ends_and_all_frames_are_processed():
    rec = _run(_models(), _units())
    per_cam = {c: sum(r.frame.camera_id == c for r in rec.frames) for c in ("cam0", "cam1")}
    assert per_cam == {"cam0": N_FRAMES, "cam1": N_FRAMES}
    assert rec.status, "status events are published"


def test_crops_of_both_cameras_are_embedded_in_one_batch():
    embedder = FakeEmbedder()
    _run(_models(embedder=embedder), _units())
    assert max(embedder.batch_sizes) >= 2, "crops from both cameras share a batch"
    assert embedder.calls <= N_FRAMES + 1, "one embed call per step, not per crop"


def test_track_ids_are_stable_for_a_walking_person():
    rec = _run(_models(), _units())
    ids = {
        o.track_id
        for r in rec.frames
        if r.frame.camera_id == "cam1"
        for o in r.observations
        if _colour_at(r, o) == (40, 200, 40) and o.track_id is not None
    }
    assert len(ids) == 1, f"carol should keep one track id, got {ids}"


def test_detector_failure_skips_frames_but_the_run_goes_on():
    # call 3 fails for the batch of two frames, the per-frame retries (calls 4, 5) fail too
    detector = FakeDetector(fail_on={3, 4, 5})
    units = _units()
    rec = _run(_models(detector=detector), units)
    assert len(rec.frames) == 2 * N_FRAMES - 2
    assert [u.errors for u in units] == [1, 1]


def test_source_read_error_is_logged_and_camera_continues():
    units = _units(fail_at=10)
    rec = _run(_models(), units)
    assert sum(r.frame.camera_id == "cam0" for r in rec.frames) == N_FRAMES
    assert units[0].errors == 1


def test_no_query_means_no_match():
    rec = _run(_models(), _units())
    assert all(
        o.decision is None or o.decision.verdict is Verdict.NO_MATCH
        for r in rec.frames
        for o in r.observations
    )


def test_search_output_folders_and_jsonl(tmp_path):
    models = _models()
    enroll(models.gallery, models.embedder, "alice", [crop_of(ALICE)])
    sink = SearchOutputSink(tmp_path)
    _run(models, _units(), sink)
    sink.close()
    lines = [json.loads(x) for x in (tmp_path / "matches.jsonl").read_text().splitlines()]
    assert lines and {"camera_id", "frame", "xyxy", "track_id", "similarity", "matched", "query_id"} <= set(
        lines[0]
    )
    n_matched = sum(x["matched"] for x in lines)
    n_uncertain = sum(x["verdict"] == "uncertain" for x in lines)
    assert n_matched == len(list((tmp_path / "match_detections" / "alice").glob("*.jpg")))
    assert len(lines) == len(list((tmp_path / "query_images").glob("*.jpg")))
    assert n_uncertain == len(list((tmp_path / "uncertain_detections").glob("*.jpg")))
    assert len(list((tmp_path / "detections").glob("*.jpg"))) == len(lines) - n_matched - n_uncertain
    assert {x["camera_id"] for x in lines if x["matched"]} == {"cam0", "cam1"}


class _Unopenable(FakeSource):
    def open(self) -> None:
        raise OSError("cannot open /videos/cam0.mp4: no such file (rtsp://admin:s3cret@cam)")


def test_a_camera_that_cannot_open_fails_alone_and_the_others_run():
    units = _units()
    units[0].source = _Unopenable("cam0", [])
    rec = RecordingSink()
    runner = Runner(units, _models(), rec, status_interval_s=0.0)
    runner.run()
    assert units[1].frames_processed == N_FRAMES and units[0].frames_processed == 0
    status = units[0].status()
    assert status.state.value == "failed" and "no such file" in (status.last_error or "")
    assert "s3cret" not in (status.last_error or "")  # a camera URL in the error is redacted
    assert units[0].errors == 1


def test_when_no_camera_opens_the_run_ends_with_the_error():
    units = _units()
    for u in units:
        u.source = _Unopenable(u.camera_id, [])
    with pytest.raises(OSError, match="cannot open"):
        Runner(units, _models()).run()
