"""The label-free per-camera calibration and the self-calibrating matcher, on synthetic embeddings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from reidcam.core import Embeddings, Verdict, l2_normalize
from reidcam.core.types import Sighting, SightingKey
from reidcam.match import Gallery, Matcher, MatcherSettings
from reidcam.match.autocal import SIGHTING_APART, SIGHTING_HALVES, AutocalSettings, SeparationEstimator
from reidcam.match.autocal_store import autocal_path, load_estimator, save_estimator
from reidcam.pipeline.calibration import CalibrationFeed
from reidcam.pipeline.sightings import SightingBook

DIM = 64
SETTINGS = AutocalSettings(target_fmr=0.01, min_tmr=0.5, min_negative_pairs=300, min_positive_pairs=30)


def _near(v: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    r = rng.normal(size=v.shape).astype(np.float32)
    r -= (r @ v) * v
    r /= np.linalg.norm(r)
    return (cos * v + np.sqrt(1 - cos**2) * r).astype(np.float32)


def _pairs(rng: np.random.Generator, n_neg: int, n_pos: int, neg_mu: float, pos_mu: float):
    neg = np.clip(rng.normal(neg_mu, 0.1, n_neg), -1, 1)
    pos = np.clip(rng.normal(pos_mu, 0.05, n_pos), -1, 1)
    return neg, pos


def test_estimate_matches_the_known_separation_of_the_pairs():
    rng = np.random.default_rng(0)
    neg, pos = _pairs(rng, 5000, 500, 0.3, 0.85)
    est = SeparationEstimator("m", SETTINGS)
    est.add_pairs("cam", neg, pos)
    e = est.estimate("cam")
    assert e.enough and e.separable
    # N(0.3, 0.1): 1 % of different people lie above 0.3 + 2.326 * 0.1
    assert e.threshold == pytest.approx(0.3 + 2.326 * 0.1, abs=0.02)
    fmr, tmr = e.rates_at(e.threshold)
    assert fmr is not None and fmr <= 0.01 and tmr == pytest.approx(1.0, abs=0.01)
    assert e.rates_at(0.3)[0] == pytest.approx(0.5, abs=0.03)
    assert e.calibration is not None and e.calibration.rates_at(0.65)[0] == pytest.approx(e.rates_at(0.65)[0])


def _sighting(cam: str, tid: int, proto, apart=(), halves=None, model: str = "m") -> Sighting:
    extra: dict[str, object] = {SIGHTING_APART: tuple(apart)}
    if halves is not None:
        extra[SIGHTING_HALVES] = halves
    return Sighting(SightingKey(cam, tid), 0.0, 1.0, 4, proto, model, extra=extra)


def test_pairs_come_from_co_visible_sightings_and_track_halves():
    rng = np.random.default_rng(1)
    people = l2_normalize(rng.normal(size=(3, DIM)))
    est = SeparationEstimator("m", SETTINGS)
    halves = (_near(people[0], 0.95, rng), _near(people[0], 0.95, rng))
    assert est.observe(_sighting("cam", 1, people[0], apart=[(2, 0), (3, 0)], halves=halves)) == 1
    assert est.observe(_sighting("cam", 2, people[1], apart=[(1, 0)])) == 1  # pairs with 1, closed before
    assert est.observe(_sighting("cam", 3, people[2], apart=[(1, 0)])) == 1
    assert est.observe(_sighting("other", 4, people[2], apart=[(1, 0)])) == 0  # another camera's track 1
    s = est.scores("cam")
    assert len(s.different) == 2 and len(s.same) == 1
    assert s.different[0] == pytest.approx(float(people[0] @ people[1]), abs=1e-4)
    assert s.same[0] == pytest.approx(float(halves[0] @ halves[1]), abs=1e-4)


def test_a_camera_with_no_people_yet_never_crashes_it():
    est = SeparationEstimator("m", SETTINGS, sources={"empty": "vid.mp4"})
    assert est.observe(_sighting("empty", 1, None)) == 0  # nothing embedded
    e = est.estimate("empty")
    assert (e.enough, e.threshold, e.tmr_at_target, e.calibration) == (False, None, None, None)
    assert e.separable and e.rates_at(0.5) == (None, None)
    assert est.estimate("never-seen").num_negative == 0
    m = Matcher(MatcherSettings(0.6), est, model_default=0.65)
    g = Gallery()
    g.add("q", Embeddings(l2_normalize(np.ones((1, DIM))), "m"))
    d = m.decide(l2_normalize(np.ones(DIM)), "m", g, "empty")
    assert d.verdict is Verdict.MATCH and d.threshold == 0.65
    assert "too little evidence yet" in d.threshold_why and "0/300" in d.threshold_why


def _gallery(v: np.ndarray) -> Gallery:
    g = Gallery()
    g.add("q", Embeddings(v.reshape(1, -1), "m"))
    return g


def test_self_calibrated_threshold_is_at_least_the_cameras_and_the_user_may_only_raise_it():
    rng = np.random.default_rng(2)
    est = SeparationEstimator("m", SETTINGS)
    est.add_pairs("wide", *_pairs(rng, 2000, 200, 0.55, 0.9))  # different people often above 0.65
    cam_t = est.estimate("wide").threshold
    assert cam_t is not None and cam_t > 0.7
    q = l2_normalize(rng.normal(size=DIM))
    probe = _near(q, 0.7, rng)  # a match at the old fixed 0.65, not at this camera's threshold
    d = Matcher(MatcherSettings(0.65, uncertain_band=0.0), est, 0.65).decide(probe, "m", _gallery(q), "wide")
    assert d.verdict is Verdict.NO_MATCH and d.threshold == pytest.approx(cam_t)
    assert "keeps the estimated false-match rate at 1 %" in d.threshold_why
    strict = Matcher(MatcherSettings(0.95), est, 0.65).threshold_for("wide")
    assert strict.threshold == 0.95 and "stricter" in strict.why
    off = Matcher(MatcherSettings(0.65, uncertain_band=0.0), None, 0.65)  # matcher.self_calibrate: false
    d_off = off.decide(probe, "m", _gallery(q), "wide")
    assert d_off.verdict is Verdict.MATCH and "self-calibration off" in d_off.threshold_why


def test_a_camera_that_cannot_separate_people_says_uncertain_never_match():
    rng = np.random.default_rng(3)
    est = SeparationEstimator("m", SETTINGS)
    est.add_pairs("hard", *_pairs(rng, 2000, 200, 0.7, 0.72))  # people look alike here
    e = est.estimate("hard")
    assert e.enough and not e.separable and e.tmr_at_target is not None and e.tmr_at_target < 0.5
    q = l2_normalize(rng.normal(size=DIM))
    m = Matcher(MatcherSettings(0.65), est, 0.65)
    for cos in (0.7, 0.9, 0.99):
        d = m.decide(_near(q, cos, rng), "m", _gallery(q), "hard")
        assert d.verdict is Verdict.UNCERTAIN
        assert "people are hard to tell apart here" in d.reason
        assert "of true matches pass at 1 % false matches" in d.threshold_why
    assert m.decide(_near(q, 0.2, rng), "m", _gallery(q), "hard").verdict is Verdict.NO_MATCH


def test_saved_estimate_round_trips_and_another_model_or_camera_is_refused(tmp_path: Path, caplog):
    rng = np.random.default_rng(4)
    est = SeparationEstimator("m", SETTINGS, sources={"a": "a.mp4", "b": "b.mp4"})
    est.add_pairs("a", *_pairs(rng, 400, 40, 0.3, 0.8))
    est.add_pairs("b", *_pairs(rng, 400, 40, 0.3, 0.8))
    path = save_estimator(est, autocal_path(tmp_path))
    back = load_estimator(path, "m", SETTINGS, {"a": "a.mp4", "b": "b.mp4"})
    assert back.estimate("a").threshold == pytest.approx(est.estimate("a").threshold, abs=1e-3)
    with caplog.at_level(logging.WARNING):
        moved = load_estimator(path, "m", SETTINGS, {"a": "a.mp4", "b": "rtsp://elsewhere/b"})
    assert moved.estimate("b").num_negative == 0 and moved.estimate("a").num_negative == 400
    assert "camera b: the saved calibration was made on source 'b.mp4'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        other = load_estimator(path, "resnet50", SETTINGS)
    assert (
        other.camera_ids() == []
        and "is for ReID model 'm', but the model in use is 'resnet50'" in caplog.text
    )
    assert not path.exists() and path.with_name("autocal.json.refused").is_file()  # set aside, not lost


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "reidcam-autocal-1"}), "[]", ""])
def test_a_corrupt_file_is_reported_and_ignored(tmp_path: Path, caplog, content: str):
    path = autocal_path(tmp_path)
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        est = load_estimator(path, "m", SETTINGS)
    assert est.camera_ids() == [] and "ignoring corrupt per-camera calibration" in caplog.text


def test_the_sighting_book_reports_who_was_seen_apart_and_the_halves_of_long_tracks(tmp_path: Path):
    rng = np.random.default_rng(5)
    a, b = l2_normalize(rng.normal(size=(2, DIM)))
    book = SightingBook("cam", max_embeddings=16)
    boxes = np.array([[0, 0, 50, 100], [200, 0, 250, 100]], np.float32)
    for f in range(6):
        book.tick()
        for tid, box in zip((1, 2), boxes, strict=True):
            book.observe(tid, f, float(f), box, True)
        book.note_apart([1, 2], boxes)
        book.add_embedding(1, _near(a, 0.9, rng), "m", f)
        if f < 1:
            book.add_embedding(2, _near(b, 0.9, rng), "m", f)
    closed = book.close_all()
    by_tid = {s.key.track_id: s for s in closed}
    assert by_tid[1].extra[SIGHTING_APART] == ((2, 0),) and SIGHTING_HALVES in by_tid[1].extra
    assert SIGHTING_HALVES not in by_tid[2].extra  # one embedding: too short for halves
    feed = CalibrationFeed(SeparationEstimator("m", SETTINGS), autocal_path(tmp_path), save_interval_s=3600)
    for s in closed:
        feed.on_sighting(s)
    feed.flush()
    saved = json.loads(autocal_path(tmp_path).read_text())["cameras"]["cam"]
    assert len(saved["negatives"]) == 1 and len(saved["positives"]) == 1


def test_a_sighting_of_another_model_is_refused():
    est = SeparationEstimator("m", SETTINGS)
    with pytest.raises(ValueError, match="fed a other sighting"):
        est.observe(_sighting("cam", 1, l2_normalize(np.ones(DIM)), model="other"))


def _views(q: np.ndarray, cameras: list[str | None]) -> Gallery:
    g = Gallery()
    g.add("q", Embeddings(np.stack([q] * len(cameras)), "m"), cameras=cameras)
    return g


def test_a_cross_camera_decision_uses_the_pair_estimate_and_a_worse_pair_is_stricter():
    rng = np.random.default_rng(7)
    est = SeparationEstimator("m", SETTINGS)
    est.add_pairs("good", *_pairs(rng, 2000, 200, 0.3, 0.85))  # 1 % threshold ~0.53
    est.add_pairs("worse", *_pairs(rng, 2000, 200, 0.55, 0.95))  # ~0.78, still separable
    est.add_pairs("new", *_pairs(rng, 20, 3, 0.6, 0.9))  # too little evidence yet
    good_t, worse_t = est.estimate("good").threshold, est.estimate("worse").threshold
    pair = est.pair_estimate("good", "worse")
    assert pair.enough and pair.separable and pair.threshold is not None
    assert good_t + 0.1 < pair.threshold < worse_t  # pooled: stricter than the good camera's own
    assert not est.pair_estimate("good", "new").enough, "one camera's evidence never speaks for both"
    assert not est.pair_estimate("good", "gone").enough and "gone" not in est.camera_ids()

    m = Matcher(MatcherSettings(0.5, uncertain_band=0.0), est, 0.5)
    q = l2_normalize(rng.normal(size=DIM))
    probe = _near(q, (good_t + pair.threshold) / 2, rng)  # passes on good alone, not for the pair
    same = m.decide(probe, "m", _views(q, ["good"]), "good")
    assert same.verdict is Verdict.MATCH and same.threshold == pytest.approx(good_t)
    cross = m.decide(probe, "m", _views(q, ["worse"]), "good")
    assert cross.verdict is Verdict.NO_MATCH and cross.threshold == pytest.approx(pair.threshold)
    assert cross.threshold_why.startswith("cameras good+worse (query view from camera worse): ")
    # a photo (no camera) and a pair without enough evidence: the camera's own, as before
    assert m.decide(probe, "m", _views(q, [None]), "good").threshold == pytest.approx(good_t)
    fallback = m.threshold_for("good", "new")
    assert fallback.threshold == pytest.approx(good_t)
    assert "too little evidence for the pair yet" in fallback.why
    # the view that scored best decides which pair: here the one cropped on camera good
    two = Gallery()
    two.add("q", Embeddings(np.stack([_near(q, 0.5, rng), q]), "m"), cameras=["worse", "good"])
    assert m.decide(probe, "m", two, "good").threshold == pytest.approx(good_t)


def test_a_pair_the_model_cannot_separate_makes_cross_camera_matches_uncertain():
    rng = np.random.default_rng(8)
    est = SeparationEstimator("m", SETTINGS)
    est.add_pairs("a", *_pairs(rng, 2000, 200, 0.3, 0.9))
    est.add_pairs("b", *_pairs(rng, 2000, 200, 0.3, 0.9))
    est.add_pairs("murky", *_pairs(rng, 4000, 400, 0.7, 0.72))
    q = l2_normalize(rng.normal(size=DIM))
    m = Matcher(MatcherSettings(0.65), est, 0.65)
    probe = _near(q, 0.97, rng)
    assert m.decide(probe, "m", _views(q, ["b"]), "a").verdict is Verdict.MATCH
    d = m.decide(probe, "m", _views(q, ["murky"]), "a")
    assert d.verdict is Verdict.UNCERTAIN and "cameras a+murky" in d.reason, d.reason


def test_gallery_views_keep_their_cameras():
    g = Gallery()
    g.add("q", Embeddings(l2_normalize(np.ones((2, DIM))), "m"), cameras=["c1", None])
    g.add("q", Embeddings(l2_normalize(np.ones((1, DIM))), "m"))
    assert [g.view_camera("q", k) for k in range(4)] == ["c1", None, None, None]
    assert g.view_camera("absent", 0) is None
    with pytest.raises(ValueError, match="1 cameras for 2 query images"):
        g.add("q", Embeddings(l2_normalize(np.ones((2, DIM))), "m"), cameras=["c1"])
