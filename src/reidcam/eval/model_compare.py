"""Compare ReID models (and flip test-time augmentation) on every labelled set of the shared media.

Three figures per model, threshold-free where possible:

- MOT17-mini ground truth: true-match rate at a fixed false-match rate (1 %, 0.1 %). Positives: one
  person's crop in the first and in the last frame on disk of a sequence; negatives: crops of two
  different people in one frame (first or last). The pairs of the issue's table.
- The ``reidcam export-set`` folder: rank-1 and mAP (Market protocol) and TMR at FMR 1 % / 0.1 % on
  its query + gallery crops (same-person pairs across its cameras only).
- crops/s: the embedder on a batch of real crops, after a warm-up.

Used by ``benchmarks/reid_compare.py``; figures in docs/accuracy.md.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.eval.build_set import LabelledCrop, mot_crops
from reidcam.eval.dataset import MarketSet, labels
from reidcam.eval.mot_io import MotSequence, find_sequences
from reidcam.eval.reid_eval import cosine_distmat, embed_items, score_vectors
from reidcam.eval.reid_metrics import evaluate_rank
from reidcam.match.calibration import PairScores, pair_similarities, rates, threshold_for_fmr
from reidcam.match.rerank import k_reciprocal_rerank, query_expansion
from reidcam.reid.backends.base import Embedder

FMRS = (0.01, 0.001)


@dataclass(frozen=True)
class PairRates:
    """TMR at each target FMR (with the threshold that gives it) and the pair counts."""

    tmr: dict[str, float]
    threshold: dict[str, float]
    same_pairs: int
    different_pairs: int


def rates_at_fmrs(scores: PairScores, fmrs: tuple[float, ...] = FMRS) -> PairRates:
    """True-match rate at the lowest threshold whose false-match rate is at most each target."""
    tmr, thr = {}, {}
    for f in fmrs:
        t = threshold_for_fmr(scores.different, f)
        tmr[f"{f:g}"] = round(rates(t, scores)[1], 4)
        thr[f"{f:g}"] = round(t, 4)
    return PairRates(tmr, thr, len(scores.same), len(scores.different))


def first_last_crops(seq: MotSequence, seq_number: int, min_height_px: float) -> list[LabelledCrop]:
    """Ground-truth crops of the first and the last frame on disk of one sequence."""
    ends = {seq.frame_numbers[0], seq.frame_numbers[-1]}
    return [c for c in mot_crops(seq, seq_number, min_height_px) if c.frame in ends]


def mot_pair_scores(
    embedder: Embedder, mot_root: Path, min_height_px: float = 50.0
) -> tuple[PairScores, list[LabelledCrop]]:
    """Same person first-vs-last frame, different people within one frame, over all sequences."""
    seqs = find_sequences(mot_root)
    crops = [c for i, seq in enumerate(seqs, 1) for c in first_last_crops(seq, i, min_height_px)]
    vec = embedder.embed([c.image for c in crops]).vectors
    same: list[float] = []
    different: list[float] = []
    by_frame: dict[tuple[int, int], list[int]] = defaultdict(list)
    by_id: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(crops):
        by_frame[(c.seq, c.frame)].append(k)
        by_id[c.identity].append(k)
    for members in by_frame.values():
        different += [float(vec[i] @ vec[j]) for i, j in itertools.combinations(members, 2)]
    for members in by_id.values():
        frames = {crops[k].frame: k for k in members}
        if len(frames) == 2:
            i, j = frames.values()
            same.append(float(vec[i] @ vec[j]))
    return PairScores(np.asarray(same, np.float32), np.asarray(different, np.float32)), crops


def export_set_scores(embedder: Embedder, data: MarketSet) -> dict[str, Any]:
    """Rank-1/mAP (Market protocol) and TMR at FMR on the query + gallery of an export-set folder."""
    query = [i for i in data.query if i.pid != -1]
    q = embed_items(embedder, query, "query", progress=False)
    g = embed_items(embedder, data.gallery, "gallery", progress=False)
    report = score_vectors(embedder.model_id, str(data.root), q, g, query, data.gallery)
    pids, cams = labels([*query, *data.gallery])
    pairs = rates_at_fmrs(pair_similarities(np.concatenate([q, g]), pids, cams))
    return {
        "rank1": round(report.result.rank(1), 4),
        "mAP": round(report.result.mAP, 4),
        "pairs": asdict(pairs),
    }


def crops_per_second(embedder: Embedder, crops: list[NDArray[np.uint8]], seconds: float = 3.0) -> float:
    """Crops embedded per second in batches of the given crops, after one warm-up batch."""
    embedder.embed(crops)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        embedder.embed(crops)
        done += len(crops)
    return round(done / (time.perf_counter() - start), 1)


def _rank_scores(dist: NDArray[np.float32], qp: Any, gp: Any, qc: Any, gc: Any) -> dict[str, float]:
    res = evaluate_rank(dist, qp, gp, qc, gc, max_rank=10)
    return {"rank1": round(res.rank(1), 4), "mAP": round(res.mAP, 4)}


def rerank_scores(
    q: NDArray[np.float32], g: NDArray[np.float32], qp: Any, gp: Any, qc: Any, gc: Any
) -> dict[str, dict[str, float]]:
    """Rank-1/mAP of plain cosine ranking, average query expansion and k-reciprocal re-ranking."""
    return {
        "plain": _rank_scores(cosine_distmat(q, g), qp, gp, qc, gc),
        "query_expansion": _rank_scores(1.0 - query_expansion(q, g), qp, gp, qc, gc),
        "k_reciprocal": _rank_scores(k_reciprocal_rerank(q, g), qp, gp, qc, gc),
    }


def mot_retrieval_vectors(
    embedder: Embedder, mot_root: Path, min_height_px: float = 50.0
) -> tuple[NDArray[np.float32], NDArray[np.float32], Any, Any, Any, Any]:
    """MOT17-mini as a ranking set: first-frame crops query the last-frame crops of every sequence."""
    _, crops = mot_pair_scores(embedder, mot_root, min_height_px)
    vec = embedder.embed([c.image for c in crops]).vectors
    ids = {name: i + 1 for i, name in enumerate(sorted({c.identity for c in crops}))}
    first = {(c.seq, c.frame) for c in crops if c.camera == 1}
    is_q = np.array([(c.seq, c.frame) in first for c in crops])
    pids = np.array([ids[c.identity] for c in crops])
    return vec[is_q], vec[~is_q], pids[is_q], pids[~is_q], np.ones(is_q.sum()), np.full((~is_q).sum(), 2)
