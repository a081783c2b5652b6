"""Accuracy tooling on the real media: the labelled set built from it, ReID scores, calibration, search."""

from __future__ import annotations

import json

import pytest

from reidcam.cli import main
from reidcam.eval.dataset import load_market
from reidcam.match.calibration import load_calibration


@pytest.fixture(scope="module")
def reid_set(media_dir, tmp_path_factory):
    for name in ("MOT17-mini", "market1501_2cam"):
        if not (media_dir / name).is_dir():
            pytest.skip(f"{name} is not in {media_dir}")
    out = tmp_path_factory.mktemp("eval") / "set"
    argv = [
        "export-set",
        "--mot",
        str(media_dir / "MOT17-mini"),
        "--frames",
        str(media_dir / "market1501_2cam"),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    return out


def test_built_set_keeps_train_and_test_identities_apart(reid_set):
    data = load_market(reid_set)
    train = {i.pid for i in data.train}
    test = {i.pid for i in data.query + data.gallery}
    assert len(train) >= 40 and len(test) >= 40 and not train & test
    woman = json.loads((reid_set / "dataset.json").read_text())["pids"]["market-0001"]
    assert woman in test and {i.camid for i in data.query if i.pid == woman} == {1, 3, 6}


def test_shipped_osnet_ranks_the_held_out_people(reid_set, weights_dir, tmp_path, capsys):
    out = tmp_path / "reid"
    argv = [
        "eval",
        "reid",
        "--data",
        str(reid_set),
        "--weights-dir",
        str(weights_dir),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    rep = json.loads((out / "reid_eval.json").read_text())[0]
    assert rep["rank1"] >= 0.95 and rep["mAP"] >= 0.95 and rep["num_valid"] >= 100
    assert (out / "cmc.png").is_file()


# (model, calibrated threshold range): OSNet's hand-picked registry 0.65 sits in its range; the
# default 0288's registry 0.50 comes from harder pairs (MOT17-mini first vs last frame), this set
# asks less of it.
CALIBRATION_RANGES = [("osnet_x0_25_msmt17", 0.5, 0.8), ("person-reidentification-retail-0288", 0.3, 0.5)]


@pytest.mark.parametrize(("model", "low", "high"), CALIBRATION_RANGES)
def test_calibrated_threshold_holds_on_held_out_people(reid_set, weights_dir, tmp_path, model, low, high):
    out = tmp_path / "cal"
    argv = [
        "calibrate",
        "--model",
        model,
        "--data",
        str(reid_set),
        "--splits",
        "bounding_box_train",
        "--holdout-splits",
        "query,bounding_box_test",
        "--target-fmr",
        "0.01",
        "--weights-dir",
        str(weights_dir),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    cal = load_calibration(out)
    assert cal is not None and cal.holdout is not None
    assert cal.model_id == model and low < cal.threshold < high
    assert cal.holdout["fmr"] <= 0.02 and cal.holdout["tpr"] >= 0.9


def test_person_search_precision_and_recall(media_dir, weights_dir, tmp_path):
    out = tmp_path / "search"
    argv = [
        "eval",
        "search",
        "--frames",
        str(media_dir / "market1501_2cam"),
        "--weights-dir",
        str(weights_dir),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    (res,) = json.loads((out / "search_eval.json").read_text())
    assert res["recall"] == 1.0 and res["frames_required"] == 14 and res["true_matches"] >= 14
    # One false match is known with the current pipeline: a track carries the woman's sighting over a
    # 200 s gap between two image-folder frames onto a man (docs/accuracy.md, "Person search").
    assert res["precision"] >= 0.9


def _torchreid_rank():
    """torchreid 0.2.5's own rank.py, loaded by path (``import torchreid`` needs its training stack)."""
    import importlib.util
    import sys

    spec = importlib.util.find_spec("torchreid")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchreid is not installed: pip install torchreid==0.2.5 scipy (the test oracle)")
    from pathlib import Path

    path = Path(next(iter(spec.submodule_search_locations))) / "reid" / "metrics" / "rank.py"
    mod_spec = importlib.util.spec_from_file_location("_torchreid_rank_oracle_models", path)
    module = importlib.util.module_from_spec(mod_spec)
    cy = "torchreid.reid.metrics.rank_cylib.rank_cy"
    saved = sys.modules.get(cy, ...)
    sys.modules[cy] = None  # type: ignore[assignment]
    try:
        mod_spec.loader.exec_module(module)
    finally:
        if saved is ...:
            del sys.modules[cy]
        else:
            sys.modules[cy] = saved
    return module


def test_scores_on_real_embeddings_agree_with_torchreid(reid_set, weights_dir):
    import numpy as np

    from reidcam.eval.dataset import labels
    from reidcam.eval.embedders import load_embedder
    from reidcam.eval.reid_eval import cosine_distmat, embed_items
    from reidcam.eval.reid_metrics import evaluate_rank

    oracle = _torchreid_rank()
    data = load_market(reid_set)
    emb = load_embedder("osnet_x0_25_msmt17", weights_dir)
    q, g = embed_items(emb, data.query, progress=False), embed_items(emb, data.gallery, progress=False)
    dist = cosine_distmat(q, g)
    (qp, qc), (gp, gc) = labels(data.query), labels(data.gallery)
    cmc, mAP = oracle.evaluate_rank(dist, qp, gp, qc, gc, max_rank=20, use_cython=False)
    ours = evaluate_rank(dist, qp, gp, qc, gc, max_rank=20)
    np.testing.assert_allclose(ours.cmc, cmc, atol=1e-6)
    assert ours.mAP == pytest.approx(mAP, abs=1e-9)
