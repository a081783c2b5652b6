"""Threshold calibration: pairs, the threshold for a target false-match rate, the saved file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reidcam.core.types import l2_normalize
from reidcam.match.calibration import (
    Calibration,
    PairScores,
    calibrate,
    load_calibration,
    pair_similarities,
    rates,
    save_calibration,
    threshold_for_fmr,
    with_holdout,
)


def test_threshold_allows_at_most_the_target_share_of_false_matches():
    different = np.linspace(0.0, 0.99, 100).astype(np.float32)  # 0.00, 0.01, ..., 0.99
    t = threshold_for_fmr(different, 0.05)
    assert 0.94 < t <= 0.9401  # 5 of 100 (0.95 .. 0.99) may pass, 0.94 may not
    assert np.mean(different >= t) == pytest.approx(0.05)
    assert threshold_for_fmr(different, 0.0) > 0.99
    assert np.mean(different >= threshold_for_fmr(different, 0.001)) == 0.0


def test_ties_at_the_threshold_can_only_lower_the_fmr():
    different = np.array([0.9, 0.9, 0.9, 0.1], np.float32)
    t = threshold_for_fmr(different, 0.5)  # 2 of 4 allowed, but 3 are tied at 0.9
    assert np.mean(different >= t) == 0.0


def test_bad_target_raises():
    with pytest.raises(ValueError):
        threshold_for_fmr(np.zeros(3, np.float32), 1.0)


def _vectors():
    """pids 1, 1, 2, 2, 0 (distractor), -1 (junk); cameras alternate."""
    rng = np.random.default_rng(0)
    base = l2_normalize(rng.normal(size=(3, 16)))
    v = np.stack([base[0], base[0], base[1], base[1], base[2], base[2]])
    v = l2_normalize(v + 0.05 * rng.normal(size=v.shape))
    return v, np.array([1, 1, 2, 2, 0, -1]), np.array([1, 2, 1, 1, 2, 1])


def test_pairs_cross_camera_by_default_and_junk_ignored():
    v, pids, cams = _vectors()
    cross = pair_similarities(v, pids, cams)
    assert len(cross.same) == 1  # (0, 1) only: person 2's two crops share camera 1
    # different: 4 labelled images -> 4 cross-person pairs among them, plus the distractor with each of 4
    assert len(cross.different) == 4 + 4
    allp = pair_similarities(v, pids, cams, cross_camera_only=False)
    assert len(allp.same) == 2


def test_no_same_pairs_raises():
    v, pids, cams = _vectors()
    with pytest.raises(ValueError, match="same-person"):
        pair_similarities(v[2:], pids[2:], cams[2:])


def _scores():
    rng = np.random.default_rng(1)
    return PairScores(
        np.clip(rng.normal(0.85, 0.05, 500), -1, 1).astype(np.float32),
        np.clip(rng.normal(0.40, 0.10, 20000), -1, 1).astype(np.float32),
    )


def test_calibration_describes_the_threshold():
    scores = _scores()
    cal = calibrate(scores, "m", target_fmr=0.01, num_images=10, num_identities=3, data="x")
    assert cal.fmr <= 0.01 and cal.fmr == pytest.approx(rates(cal.threshold, scores)[0])
    assert 0.9 < cal.tpr <= 1.0
    assert cal.uncertain_below < cal.threshold
    assert cal.same_mean == pytest.approx(0.85, abs=0.01)
    fmr, tpr = cal.rates_at(cal.threshold)
    assert fmr <= 0.011 and tpr <= cal.tpr + 1e-9
    assert cal.rates_at(2.0) == (0.0, 0.0)
    assert sum(cal.histogram["same"]) == 500 and len(cal.histogram["edges"]) == 101


def test_holdout_and_round_trip(tmp_path):
    scores = _scores()
    cal = with_holdout(calibrate(scores, "m", 0.01), scores)
    assert cal.holdout is not None and cal.holdout["fmr"] == pytest.approx(cal.fmr)
    path = save_calibration(cal, tmp_path / "out")
    back = load_calibration(path)
    assert back == cal
    assert load_calibration(tmp_path / "out") == cal  # a folder holding calibration.json
    assert json.loads(path.read_text())["threshold"] == cal.threshold


def test_load_calibration_never_raises(tmp_path):
    assert load_calibration(tmp_path / "missing.json") is None
    bad = tmp_path / "calibration.json"
    bad.write_text("{not json")
    assert load_calibration(bad) is None
    bad.write_text(json.dumps({"threshold": 0.5}))  # missing fields
    assert load_calibration(tmp_path) is None


def test_calibration_is_frozen():
    cal = calibrate(_scores(), "m")
    with pytest.raises(AttributeError):
        cal.threshold = 0.1  # type: ignore[misc]
    assert isinstance(Calibration.from_dict(json.loads(cal.to_json())), Calibration)
