"""``reidcam finetune`` on a set built from the shared media: a short run end to end.

One epoch only (the documented run uses 12): this checks the plumbing, the held-out
separation and that the pipeline loads the result, not how much the model improves.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from reidcam.cli import main
from reidcam.config.schema import ReidConfig
from reidcam.reid.backends import build_embedder
from reidcam.reid.enroll import read_image


def test_finetune_one_epoch(media_dir, weights_dir, tmp_path, capsys):
    for name in ("MOT17-mini", "market1501_2cam"):
        if not (media_dir / name).is_dir():
            pytest.skip(f"{name} is not in {media_dir}")
    data = tmp_path / "set"
    assert (
        main(
            [
                "export-set",
                "--mot",
                str(media_dir / "MOT17-mini"),
                "--frames",
                str(media_dir / "market1501_2cam"),
                "--out",
                str(data),
            ]
        )
        == 0
    )
    out = tmp_path / "ft"
    argv = [
        "finetune",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--max-seconds",
        "30",
        "--weights-dir",
        str(weights_dir),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "conversion check: min cosine" in printed
    rep = json.loads((out / "finetune.json").read_text())
    assert rep["conversion_min_cosine"] >= 0.999
    assert rep["training"]["steps"] >= 1
    assert rep["before"]["rank1"] >= 0.95 and rep["after"]["rank1"] >= 0.9  # one epoch must not wreck it
    weights = out / "osnet_x0_25_finetuned.pth"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == rep["sha256"]
    assert (out / "osnet_x0_25_finetuned.pth.sha256").read_text().split()[0] == rep["sha256"]
    emb = build_embedder(
        ReidConfig(model="osnet_x0_25_finetuned", weights=str(weights), backend="torch"), weights
    )
    q = [read_image(p) for p in sorted((media_dir / "market1501_2cam" / "query").glob("*.jpg"))]
    v = emb.embed(q).vectors
    assert v.shape == (2, 512) and float(v[0] @ v[1]) > 0.5  # still the same woman
