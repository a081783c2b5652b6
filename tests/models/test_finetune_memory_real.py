"""``reidcam finetune --from-memory`` end to end: the real pipeline fills a memory from MOT17-mini
frames (no ground truth read), one epoch trains on its tracks, and the result loads and scores
on held-out MOT17-mini identities. Checks the plumbing, not how much the model improves
(docs/accuracy.md, "Adaptation from the memory", has the measured run).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from reidcam.cli import main
from reidcam.config import AppConfig
from reidcam.config.schema import ReidConfig
from reidcam.core.events import FanOutSink
from reidcam.identity import IdentitySink
from reidcam.identity.setup import open_memory
from reidcam.identity.track_crops import TrackCropSink
from reidcam.match.calibration import load_calibration
from reidcam.pipeline.build import build_models, build_runner
from reidcam.reid.backends import build_embedder
from reidcam.reid.enroll import read_image

TRAIN_SEQ = ("MOT17-02-FRCNN", "MOT17-04-FRCNN", "MOT17-05-FRCNN")
HELDOUT_SEQ = ("MOT17-09-FRCNN", "MOT17-13-FRCNN")


@pytest.mark.slow
def test_finetune_from_a_pipeline_memory(media_dir, weights_dir, tmp_path, capsys):
    mot = media_dir / "MOT17-mini"
    if not mot.is_dir():
        pytest.skip(f"MOT17-mini is not in {media_dir}")
    data_dir = tmp_path / "data"
    cameras = [{"id": s[:8], "source": str(mot / s / "img1")} for s in TRAIN_SEQ]
    cfg = AppConfig.model_validate({"cameras": cameras, "weights": {"dir": str(weights_dir)}})
    memory = open_memory(cfg, data_dir)
    ids, crops = IdentitySink(memory), TrackCropSink(data_dir, every_n_frames=1)
    build_runner(cfg, build_models(cfg), FanOutSink([ids, crops])).run()
    assert ids.close()
    memory.close()
    assert ids.written > 10 and crops.saved > 50

    heldout_src = tmp_path / "heldout_src"
    heldout_src.mkdir()
    for s in HELDOUT_SEQ:
        (heldout_src / s).symlink_to(mot / s)
    heldout = tmp_path / "heldout"
    assert main(["export-set", "--mot", str(heldout_src), "--test-fraction", "1", "--out", str(heldout)]) == 0

    out = tmp_path / "ft"
    argv = ["finetune", "--from-memory", str(data_dir), "--heldout", str(heldout), "--out", str(out)]
    argv += ["--epochs", "1", "--min-track-s", "0", "--weights-dir", str(weights_dir), "--no-progress"]
    assert main(argv) == 0
    rep = json.loads((out / "finetune.json").read_text())
    assert rep["conversion_min_cosine"] >= 0.999
    assert rep["memory"]["tracks"] >= 10 and rep["memory"]["negative_pairs"] > 0
    assert rep["training"]["steps"] >= 1
    for when in ("before", "after"):
        assert 0.0 < rep[when]["heldout"]["mAP"] <= 1.0
        assert rep[when]["label_free"]["num_different"] > 0
    weights = out / "osnet_x0_25_finetuned.pth"
    assert rep["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    cal = load_calibration(out)
    assert cal is not None and cal.model_id == "osnet_x0_25_finetuned"
    tuned = ReidConfig(model="osnet_x0_25_finetuned", weights=str(weights), backend="torch")
    emb = build_embedder(tuned, weights)
    assert emb.embed([read_image(next((heldout / "query").iterdir()))]).vectors.shape == (1, 512)
    assert "calibration:" in capsys.readouterr().out
