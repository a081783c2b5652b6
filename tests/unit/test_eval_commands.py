"""The accuracy commands end to end on synthetic data, with the colour-based FakeEmbedder."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from reidcam.cli import main
from reidcam.match.calibration import load_calibration
from reidcam.testing.fakes import FakeEmbedder

COLOURS = {1: (200, 30, 30), 2: (30, 200, 30), 3: (30, 30, 200), 4: (200, 200, 30), 5: (30, 200, 200)}


@pytest.fixture
def market(tmp_path):
    """5 people: a query on camera 1, two gallery crops on camera 2 and one on camera 1; some noise."""
    rng = np.random.default_rng(0)
    root = tmp_path / "set"
    for pid, colour in COLOURS.items():
        for split, cam, n in (
            ("query", 1, 1),
            ("bounding_box_test", 2, 2),
            ("bounding_box_test", 1, 1),
            ("bounding_box_train", 3, 1),
            ("bounding_box_train", 4, 1),
        ):
            for i in range(n):
                img = np.clip(np.array(colour) + rng.integers(-25, 25, 3), 0, 255).astype(np.uint8)
                (root / split).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(
                    str(root / split / f"{pid:04d}_c{cam}s1_{i:06d}_00.png"), np.full((60, 30, 3), img)
                )
    return root


@pytest.fixture
def fake_embedder(monkeypatch):
    monkeypatch.setattr("reidcam.eval.embedders.load_embedder", lambda *a, **k: FakeEmbedder())


def test_eval_reid_writes_scores_and_cmc(market, fake_embedder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval", "reid", "--data", str(market), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "rank-1" in printed and "mAP" in printed
    rep = json.loads((out / "reid_eval.json").read_text())[0]
    assert rep["model_id"] == "fake-colour-v1" and rep["num_query"] == 5 and rep["num_valid"] == 5
    assert rep["rank1"] == 1.0
    assert (out / "cmc.png").stat().st_size > 1000


def test_calibrate_writes_json_and_figures(market, fake_embedder, tmp_path, capsys):
    out = tmp_path / "cal"
    code = main(
        [
            "calibrate",
            "--data",
            str(market),
            "--splits",
            "bounding_box_train",
            "--holdout-splits",
            "query,bounding_box_test",
            "--target-fmr",
            "0.1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "threshold" in capsys.readouterr().out
    cal = load_calibration(out)
    assert cal is not None and cal.model_id == "fake-colour-v1" and cal.holdout is not None
    assert cal.fmr <= 0.1 and cal.num_identities == 5
    assert (out / "similarity_hist.png").is_file() and (out / "roc.png").is_file()


def test_export_set_from_mot(tmp_path, capsys):
    seq = tmp_path / "mot" / "SEQ-01"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nimDir=img1\nframeRate=10\n")
    rows = []
    for f in range(1, 5):
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), np.full((200, 200, 3), 60 * (f % 3), np.uint8))
        rows += [
            [f, 1, 10, 10, 40, 100, 1, 1, 1.0],
            [f, 2, 100, 10, 40, 100, 1, 1, 1.0],
            [f, 3, 150, 10, 40, 30, 1, 1, 1.0],
        ]  # 3 is too short for the set
    np.savetxt(seq / "gt" / "gt.txt", np.array(rows), delimiter=",", fmt="%g")
    out = tmp_path / "set"
    assert (
        main(["export-set", "--mot", str(tmp_path / "mot"), "--out", str(out), "--test-fraction", "0.5"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["identities"] == {"train": 1, "test": 1}
    assert summary["images"] == {"bounding_box_test": 2, "bounding_box_train": 4, "query": 2}
    # frames 1-2 are pseudo camera 1, frames 3-4 camera 2
    assert sorted(p.name[5:7] for p in (out / "query").iterdir()) == ["c1", "c2"]
    assert (
        main(["export-set", "--mot", str(tmp_path / "mot"), "--out", str(out)]) == 2
    )  # not empty, no --force
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["export-set", "--out", "x"],
        ["eval", "reid", "--data", "/nonexistent/set"],
        ["calibrate", "--data", "/nonexistent", "--out", "x", "--target-fmr", "2"],
        ["calibrate", "--auto", "--out", "x"],  # no --source to play
    ],
)
def test_user_errors_are_one_line(argv, capsys, fake_embedder):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("reidcam: error:") and "Traceback" not in err
