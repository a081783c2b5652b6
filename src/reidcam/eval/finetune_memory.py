"""Fine-tuning on the deployment's own tracks (``reidcam finetune --from-memory``), no labels.

The tracks of the memory (``eval.memory_set``) are split in time per camera: the latest
``calib_fraction`` of each camera's tracks never train; they calibrate the new model (and the
old one, for comparison) label-free, at sighting level:

- same person: a prototype of a track's earlier half against one of its later half;
- different people: the prototypes of two tracks seen together on one camera.

Prototypes are the normalised mean of a few (``chunk_crops``) consecutive crops: a short
sighting, so that a small memory still gives enough pairs. Same-person pairs
from one track are easier than a person coming back hours later, so the true-match rate is an
upper bound; the false-match rate is the trustworthy half (its negatives are certain).
An optional labelled held-out set (``--heldout``, Market layout) scores rank-1/mAP before/after.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.config.schema import ReidConfig
from reidcam.eval.dataset import DatasetError, Item, MarketSet
from reidcam.eval.finetune import FinetuneSettings, export_onnx, save_checkpoint, train
from reidcam.eval.finetune_run import (
    CHECK_IMAGES,
    MIN_AGREEMENT,
    NetEmbedder,
    agreement,
    heldout_scores,
    outcome_fields,
)
from reidcam.eval.memory_set import MemorySet
from reidcam.eval.reid_eval import embed_items
from reidcam.match.calibration import Calibration, PairScores, calibrate
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.base import Embedder
from reidcam.reid.backends.onnx_to_torch import ConversionError, onnx_to_osnet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemorySplit:
    """Pseudo-identities that train and those that calibrate; negatives kept within each side."""

    train: tuple[Item, ...]
    train_negatives: frozenset[tuple[int, int]]
    calib: tuple[Item, ...]
    calib_negatives: frozenset[tuple[int, int]]


def split_memory_set(mset: MemorySet, calib_fraction: float) -> MemorySplit:
    """Per camera, the last ``calib_fraction`` of its tracks (by start time) calibrate, the rest train.

    A co-occurring pair across the boundary is dropped from both sides.

    Raises:
        DatasetError: ``calib_fraction`` outside (0, 1).
    """
    if not 0.0 < calib_fraction < 1.0:
        raise DatasetError(f"calib_fraction must be between 0 and 1, got {calib_fraction}")
    by_cam: dict[str, list[int]] = defaultdict(list)
    for pid, row in enumerate(mset.tracks, 1):
        by_cam[row.camera_id].append(pid)
    calib: set[int] = set()
    for pids in by_cam.values():
        pids.sort(key=lambda pid: mset.tracks[pid - 1].first_seen_at)
        n_calib = round(len(pids) * calib_fraction)
        calib.update(pids[len(pids) - n_calib :])

    def side(in_calib: bool) -> tuple[tuple[Item, ...], frozenset[tuple[int, int]]]:
        items = tuple(i for i in mset.items if (i.pid in calib) == in_calib)
        negs = frozenset((a, b) for a, b in mset.negatives if (a in calib) == in_calib == (b in calib))
        return items, negs

    train_items, train_negs = side(False)
    calib_items, calib_negs = side(True)
    return MemorySplit(train_items, train_negs, calib_items, calib_negs)


def _prototype(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    mean = vectors.mean(axis=0)
    return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), dtype=np.float32)


def _chunks(rows: list[int], size: int) -> list[list[int]]:
    """Consecutive groups of about ``size`` crops (two at least when there are 4 or more crops)."""
    n = max(2, len(rows) // size) if len(rows) >= 4 else 1
    return [part.tolist() for part in np.array_split(np.asarray(rows), n)]


def sighting_pairs(
    embedder: Embedder, items: tuple[Item, ...], negatives: frozenset[tuple[int, int]], chunk_crops: int = 4
) -> PairScores:
    """Label-free sighting-level pairs on prototypes of ``chunk_crops`` consecutive crops (short
    sightings): same person, a chunk of a track's earlier half against one of its later half;
    different people, every chunk pair of two tracks seen together. Empty arrays when none."""
    if not items:
        return PairScores(np.zeros(0, np.float32), np.zeros(0, np.float32))
    vectors = embed_items(embedder, list(items), "calibration", progress=False)
    rows: dict[int, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        rows[item.pid].append(n)
    protos = {
        pid: np.stack([_prototype(vectors[c]) for c in _chunks(idx, chunk_crops)])
        for pid, idx in rows.items()
    }
    same: list[float] = []
    for p in protos.values():
        half = len(p) // 2
        if half:
            same += (p[:half] @ p[half:].T).ravel().tolist()
    different: list[float] = []
    for a, b in sorted(negatives):
        if a in protos and b in protos:
            different += (protos[a] @ protos[b].T).ravel().tolist()
    return PairScores(np.asarray(same, np.float32), np.asarray(different, np.float32))


def label_free_calibration(
    embedder: Embedder, split: MemorySplit, target_fmr: float, data: str
) -> tuple[Calibration | None, PairScores]:
    """The calibration of ``embedder`` on the held-back tracks; None when a side has no pairs."""
    pairs = sighting_pairs(embedder, split.calib, split.calib_negatives)
    if not len(pairs.same) or not len(pairs.different):
        log.warning(
            "label-free calibration: %d same / %d different pairs; no calibration written",
            len(pairs.same),
            len(pairs.different),
        )
        return None, pairs
    if len(pairs.different) * target_fmr < 1:
        log.warning(
            "only %d different-people pairs: a false-match rate of %.3g cannot be measured on them",
            len(pairs.different),
            target_fmr,
        )
    n_ids = len({i.pid for i in split.calib})
    cal = calibrate(pairs, embedder.model_id, target_fmr, len(split.calib), n_ids, data)
    return cal, pairs


def _cal_summary(cal: Calibration | None, pairs: PairScores) -> dict[str, Any]:
    out: dict[str, Any] = {"num_same": len(pairs.same), "num_different": len(pairs.different)}
    if cal is not None:
        out.update(
            threshold=cal.threshold,
            fmr=round(cal.fmr, 4),
            tpr=round(cal.tpr, 4),
            same_mean=round(cal.same_mean, 4),
            different_mean=round(cal.different_mean, 4),
        )
    return out


@dataclass(frozen=True)
class MemoryFinetuneResult:
    """Weights written, the tuned model's label-free calibration (None: too few pairs), the report."""

    weights: Path
    sha256: str
    onnx: Path | None
    calibration: Calibration | None
    report: dict[str, Any]


def _scores(
    embedder: Embedder, split: MemorySplit, heldout: MarketSet | None, target_fmr: float, data: str
) -> tuple[Calibration | None, dict[str, Any]]:
    cal, pairs = label_free_calibration(embedder, split, target_fmr, data)
    out: dict[str, Any] = {"label_free": _cal_summary(cal, pairs)}
    if heldout is not None:
        out["heldout"] = {k: v for k, v in heldout_scores(embedder, heldout, False)[0].items() if k != "cmc"}
    return cal, out


def _convert(base: Embedder, onnx_path: Path, items: tuple[Item, ...]) -> tuple[Any, float]:
    net = onnx_to_osnet(onnx_path)
    cos = agreement(base, NetEmbedder(net, "converted"), list(items[:CHECK_IMAGES]))
    if cos < MIN_AGREEMENT:
        raise ConversionError(
            f"converted model disagrees with {onnx_path}: min cosine {cos:.4f} < {MIN_AGREEMENT}"
        )
    return net, cos


def run_finetune_memory(
    base: Embedder,
    onnx_path: Path,
    mset: MemorySet,
    out: Path,
    name: str,
    settings: FinetuneSettings,
    heldout: MarketSet | None = None,
    calib_fraction: float = 0.25,
    target_fmr: float = 0.01,
    with_onnx: bool = False,
) -> MemoryFinetuneResult:
    """Train ``onnx_path``'s OSNet on the memory's clean tracks; write weights and calibration.

    Raises:
        ConversionError: the converted model disagrees with ONNX Runtime.
        DatasetError: no trainable tracks after the split.
    """
    split = split_memory_set(mset, calib_fraction)
    net, cos = _convert(base, onnx_path, mset.items)
    data = f"memory {mset.data_dir} (label-free, held-back tracks)"
    _, before = _scores(base, split, heldout, target_fmr, data)
    train_log = train(net, split.train, settings, negatives=split.train_negatives)
    weights = out / f"{name}.pth"
    digest = save_checkpoint(net, weights)
    tuned = build_embedder(ReidConfig(model=name, weights=str(weights), backend="torch"), weights)
    cal, after = _scores(tuned, split, heldout, target_fmr, data)
    onnx_file = export_onnx(net, out / f"{name}.onnx") if with_onnx else None
    report = {
        "base_model": base.model_id,
        "base_weights": str(onnx_path),
        "conversion_min_cosine": round(cos, 6),
        "memory": mset.summary(),
        "train": {
            "crops": len(split.train),
            "tracks": len({i.pid for i in split.train}),
            "negative_pairs": len(split.train_negatives),
        },
        "calibration_tracks": {
            "crops": len(split.calib),
            "tracks": len({i.pid for i in split.calib}),
            "negative_pairs": len(split.calib_negatives),
        },
        "heldout": None if heldout is None else str(heldout.root),
        **outcome_fields(name, settings, train_log.as_dict(), before, after, weights, digest, onnx_file),
    }
    return MemoryFinetuneResult(weights, digest, onnx_file, cal, report)
