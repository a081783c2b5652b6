"""The whole fine-tuning run: convert, prove the conversion, score before, train, save, reload, score after.

Scores are on the held-out identities only (``query/`` + ``bounding_box_test/``); training
sees ``bounding_box_train/`` only, whose identities are disjoint from them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.config.schema import ReidConfig
from reidcam.eval.dataset import DatasetError, Item, MarketSet, labels
from reidcam.eval.finetune import FinetuneSettings, export_onnx, save_checkpoint, train
from reidcam.eval.reid_eval import embed_items, score_vectors
from reidcam.match.calibration import PairScores, calibrate, pair_similarities
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.base import Embedder
from reidcam.reid.backends.onnx_to_torch import ConversionError, onnx_to_osnet
from reidcam.reid.backends.preprocess import BatchEmbedder, get_preset

log = logging.getLogger(__name__)

MIN_AGREEMENT = 0.999
CHECK_IMAGES = 64


class NetEmbedder(BatchEmbedder):
    """An in-memory torch feature extractor behind the common Embedder interface (RGB ImageNet preset)."""

    def __init__(self, net: Any, model_id: str, batch_size: int = 32) -> None:
        import torch

        self._torch = torch
        self.net = net
        self.model_id = model_id
        self.dim = int(net.feature_dim)
        self.preset = get_preset("osnet")
        self.batch_size = batch_size

    def _infer(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        with self._torch.inference_mode():
            return np.asarray(self.net.eval()(self._torch.from_numpy(batch)).numpy(), dtype=np.float32)


def agreement(a: Embedder, b: Embedder, items: list[Item]) -> float:
    """Smallest cosine similarity between two embedders' vectors of the same images."""
    va = embed_items(a, items, "check", progress=False)
    vb = embed_items(b, items, "check", progress=False)
    return float(np.min(np.sum(va * vb, axis=1)))


def heldout_scores(
    embedder: Embedder, data: MarketSet, progress: bool = True
) -> tuple[dict[str, Any], PairScores]:
    """Market-protocol ranking and pair verification on ``query`` + ``bounding_box_test``.

    Verification: cross-camera same-person pairs vs different-people pairs over both splits;
    the true-match rate at false-match rates 1% and 0.1% (thresholds picked on these pairs,
    i.e. how separable the two distributions are, not a deployable threshold).
    """
    q = embed_items(embedder, data.query, "query", progress)
    g = embed_items(embedder, data.gallery, "gallery", progress)
    rep = score_vectors(embedder.model_id, str(data.root), q, g, data.query, data.gallery, max_rank=20)
    pids, cams = labels(data.query + data.gallery)
    pairs = pair_similarities(np.concatenate([q, g]), pids, cams)
    at1, at01 = calibrate(pairs, embedder.model_id, 0.01), calibrate(pairs, embedder.model_id, 0.001)
    out: dict[str, Any] = {k: round(float(v), 4) for k, v in rep.result.summary().items()}
    out.update(
        same_mean=round(at1.same_mean, 4),
        different_mean=round(at1.different_mean, 4),
        tpr_at_fmr_1e2=round(at1.tpr, 4),
        tpr_at_fmr_1e3=round(at01.tpr, 4),
        cmc=[round(float(v), 4) for v in rep.result.cmc],
    )
    return out, pairs


@dataclass(frozen=True)
class FinetuneResult:
    """Where the weights went, the report written beside them, the held-out pairs before/after."""

    weights: Path
    sha256: str
    onnx: Path | None
    report: dict[str, Any]
    pairs_before: PairScores
    pairs_after: PairScores


def outcome_fields(
    name: str,
    settings: FinetuneSettings,
    training: dict[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
    weights: Path,
    digest: str,
    onnx_file: Path | None,
) -> dict[str, Any]:
    """The part of a finetune report both finetunes share: how it was trained, the scores before
    and after, and the config lines that load the result."""
    return {
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()},
        "training": training,
        "before": before,
        "after": after,
        "weights": str(weights),
        "sha256": digest,
        "onnx": None if onnx_file is None else str(onnx_file),
        "load_with": {"reid": {"model": name, "weights": str(weights), "backend": "torch"}},
    }


def _check_split(data: MarketSet) -> None:
    if not data.train:
        raise DatasetError(f"{data.root}/bounding_box_train is empty: nothing to train on")
    if not data.query or not data.gallery:
        raise DatasetError(
            f"{data.root} needs query/ and bounding_box_test/ (held-out identities) to score on"
        )
    shared = {i.pid for i in data.train} & {i.pid for i in data.query + data.gallery} - {0, -1}
    if shared:
        raise DatasetError(
            f"train and test share identities {sorted(shared)[:5]}: the held-out score would be a lie"
        )


def run_finetune(
    base: Embedder,
    onnx_path: Path,
    data: MarketSet,
    out: Path,
    name: str = "osnet_x0_25_finetuned",
    settings: FinetuneSettings | None = None,
    with_onnx: bool = False,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune the ONNX OSNet ``onnx_path`` (run by ``base``) on ``data``; write ``out/<name>.pth``.

    Raises:
        ConversionError: the converted model disagrees with ONNX Runtime (cosine < 0.999).
        DatasetError: no train split, no held-out split, or identities shared between them.
    """
    _check_split(data)
    settings = settings or FinetuneSettings()
    net = onnx_to_osnet(onnx_path)
    check_items = (data.train + data.query)[:CHECK_IMAGES]
    cos = agreement(base, NetEmbedder(net, "converted"), check_items)
    log.info("ONNX -> PyTorch agreement on %d crops: min cosine %.6f", len(check_items), cos)
    if cos < MIN_AGREEMENT:
        raise ConversionError(
            f"converted model disagrees with {onnx_path}: min cosine {cos:.4f} < {MIN_AGREEMENT}"
        )
    before, pairs_before = heldout_scores(base, data, progress)
    train_log = train(net, data.train, settings)
    weights = out / f"{name}.pth"
    digest = save_checkpoint(net, weights)
    tuned = build_embedder(ReidConfig(model=name, weights=str(weights), backend="torch"), weights)
    after, pairs_after = heldout_scores(tuned, data, progress)
    onnx_file = export_onnx(net, out / f"{name}.onnx") if with_onnx else None
    report = {
        "base_model": base.model_id,
        "base_weights": str(onnx_path),
        "conversion_min_cosine": round(cos, 6),
        "data": str(data.root),
        "train": {"images": len(data.train), "identities": len({i.pid for i in data.train})},
        "heldout": {
            "queries": len(data.query),
            "gallery": len(data.gallery),
            "identities": len({i.pid for i in data.query + data.gallery}),
        },
        **outcome_fields(name, settings, train_log.as_dict(), before, after, weights, digest, onnx_file),
    }
    return FinetuneResult(weights, digest, onnx_file, report, pairs_before, pairs_after)
