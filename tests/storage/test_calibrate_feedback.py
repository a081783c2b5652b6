"""Calibrating the threshold on the users' own word: confirmed and rejected sightings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from storage_support import MODEL, person, sighting, view

from reidcam.cli import main
from reidcam.eval.feedback_pairs import feedback_pairs
from reidcam.identity import IdentityMemory
from reidcam.identity.feedback_set import load_feedback


def _people_confirmed(memory: IdentityMemory) -> dict[str, str]:
    """Three people, two sightings each on cameras c1 and c2, every one confirmed by a user."""
    identities: dict[str, str] = {}
    for pid in (1, 2, 3):
        for k, cam in enumerate(("c1", "c1", "c2", "c2")):
            seed = 100 * pid + k
            placed = memory.record_sighting(sighting(cam, seed, view(person(pid), seed), 1000.0 + 10 * seed))
            assert placed is not None
            identities.setdefault(f"p{pid}", placed.identity_id)
            assert placed.identity_id == identities[f"p{pid}"]
            memory.confirm(placed.sighting_id)
    return identities


def test_pairs_from_confirmations_and_a_rejection(memory: IdentityMemory) -> None:
    ids = _people_confirmed(memory)
    stranger = memory.record_sighting(sighting("c2", 900, view(person(9), 900), 9000.0))
    assert stranger is not None
    memory.assign(stranger.sighting_id, ids["p1"])  # a user's slip ...
    memory.reject(stranger.sighting_id)  # ... taken back: a known non-match of p1
    unconfirmed = memory.record_sighting(sighting("c1", 901, view(person(1), 901), 9100.0))
    assert unconfirmed is not None and unconfirmed.identity_id == ids["p1"]  # joined, but nobody said so

    fs = load_feedback(memory.engine)
    assert fs.model_id == MODEL and fs.num_identities == 3 and len(fs.sighting_ids) == 12
    assert [(sid, ident) for sid, ident, _ in fs.rejected] == [(stranger.sighting_id, ids["p1"])]
    scores = feedback_pairs(fs)
    # same person across cameras: 3 people x (2 on c1 x 2 on c2); different: 66 - 18 pairs + 4 rejected
    assert len(scores.same) == 12 and len(scores.different) == 48 + 4
    assert scores.same.min() > 0.8 and scores.different.max() < 0.6
    assert len(feedback_pairs(fs, cross_camera_only=False).same) == 18


def test_nothing_confirmed_is_a_clear_error(memory: IdentityMemory) -> None:
    memory.record_sighting(sighting("c1", 1, view(person(1), 1), 1000.0))
    with pytest.raises(ValueError, match="confirm some matches first"):
        load_feedback(memory.engine)
    with pytest.raises(ValueError, match="other-model"):
        load_feedback(memory.engine, "other-model")


def test_reidcam_calibrate_from_the_memory(tmp_path: Path, data_dir: Path) -> None:
    with IdentityMemory.open(data_dir) as memory:
        _people_confirmed(memory)
    out = tmp_path / "cal"
    assert main(["calibrate", "--memory", str(data_dir), "--target-fmr", "0.05", "--out", str(out)]) == 0
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["model_id"] == MODEL and cal["num_identities"] == 3 and cal["num_images"] == 12
    assert (cal["num_same"], cal["num_different"]) == (12, 48)
    assert 0.2 < cal["threshold"] < 0.8 and cal["fmr"] <= 0.05 and cal["tpr"] == 1.0  # same pairs ~0.9
    assert "identity memory" in cal["data"]
    assert (out / "roc.png").stat().st_size > 0 and (out / "similarity_hist.png").stat().st_size > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["calibrate", "--memory", str(empty), "--out", str(out)]) == 2  # no reidcam.db: a clear error
    assert np.isfinite(cal["threshold"])
