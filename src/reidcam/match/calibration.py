"""Threshold calibration: from labelled crops to the similarity threshold for a target false-match rate.

Every pair of labelled images is either the same person or two different people. Their cosine
similarities form two distributions; a threshold t (match when similarity >= t) has

- false-match rate FMR(t): the fraction of different-people pairs at or above t,
- true-match rate TPR(t): the fraction of same-person pairs at or above t.

``threshold_for_fmr`` picks the lowest threshold whose FMR does not exceed the target on these
pairs. Same-person pairs are taken across cameras only by default: two crops of one camera a
frame apart are near copies and would flatter the TPR. Pairs are of single crops, while the
pipeline matches a sighting's mean embedding against the best query view: the FMR here is
the per-crop rate, an upper bound in practice.

The result is a ``Calibration`` saved as ``calibration.json``; ``load_calibration`` reads it
back (for the web UI, next to the threshold slider), ``Calibration.rates_at`` answers "what
FMR/TPR would this other threshold give" from the stored curve.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
MAX_IMAGES = 4000  # 8 M pairs; a bigger set is subsampled (seeded) to this many images
CURVE_STEP = 0.01
HIST_BINS = 50


@dataclass(frozen=True)
class PairScores:
    """Cosine similarities of same-person and different-people pairs (float32, unordered)."""

    same: NDArray[np.float32]
    different: NDArray[np.float32]


def pair_similarities(
    vectors: NDArray[np.float32],
    pids: NDArray[np.int64],
    camids: NDArray[np.int64],
    cross_camera_only: bool = True,
    extra_different: NDArray[np.float32] | None = None,
) -> PairScores:
    """Similarities of every labelled pair ``i < j``.

    pid -1 (junk) images are ignored; pid 0 (distractors: unknown, possibly several people)
    only form different-people pairs with labelled (pid > 0) images. ``extra_different``:
    similarities of different-people pairs known otherwise (a user's rejections).

    Raises:
        ValueError: no same-person or no different-people pair.
    """
    keep = pids != -1
    v, p, c = vectors[keep], pids[keep], camids[keep]
    sims = np.clip(v @ v.T, -1.0, 1.0).astype(np.float32)
    iu = np.triu_indices(len(v), k=1)
    s, pi, pj, ci, cj = sims[iu], p[iu[0]], p[iu[1]], c[iu[0]], c[iu[1]]
    labelled = (pi > 0) | (pj > 0)
    same = (pi == pj) & (pi > 0)
    if cross_camera_only:
        same &= ci != cj
    different = (pi != pj) & labelled
    extra = np.zeros(0, np.float32) if extra_different is None else np.asarray(extra_different, np.float32)
    n_same, n_different = int(same.sum()), int(different.sum()) + len(extra)
    if not n_same or not n_different:
        raise ValueError(
            f"need same-person and different-people pairs; got {n_same} and {n_different}"
            + (" (same-person pairs across cameras only)" if cross_camera_only else "")
        )
    return PairScores(s[same], np.concatenate([s[different], extra]))


def rates(threshold: float, scores: PairScores) -> tuple[float, float]:
    """(FMR, TPR) of the rule ``similarity >= threshold`` on these pairs."""
    return float(np.mean(scores.different >= threshold)), float(np.mean(scores.same >= threshold))


def threshold_for_fmr(different: NDArray[np.float32], target_fmr: float, decimals: int = 4) -> float:
    """Lowest threshold, rounded up to ``decimals``, with FMR <= ``target_fmr`` on ``different``.

    With k = floor(target * n) false matches allowed, the threshold lies just above the
    (k+1)-th highest different-people similarity; ties there can only lower the FMR.
    """
    if not 0.0 <= target_fmr < 1.0:
        raise ValueError("target_fmr must be in [0, 1)")
    d = np.sort(np.asarray(different, np.float32))[::-1]
    k = math.floor(target_fmr * len(d) + 1e-9)
    if k >= len(d):
        return -1.0
    bar, scale = d[k], 10**decimals
    t = math.ceil(float(bar) * scale) / scale
    # strictly above the bar both as a double and as float32 (NumPy compares float32 arrays in float32)
    while not (t > float(bar) and np.float32(t) > bar):
        t = round(t + 1 / scale, decimals)
    return float(t)


def roc_curve(scores: PairScores, step: float = CURVE_STEP) -> list[tuple[float, float, float]]:
    """``[(threshold, FMR, TPR), ...]`` on a grid of thresholds from -1 to 1."""
    grid = np.round(np.arange(-1.0, 1.0 + step / 2, step), 6)
    d, s = np.sort(scores.different), np.sort(scores.same)
    fmr = 1.0 - np.searchsorted(d, grid, side="left") / len(d)
    tpr = 1.0 - np.searchsorted(s, grid, side="left") / len(s)
    return [(float(t), float(f), float(p)) for t, f, p in zip(grid, fmr, tpr, strict=True)]


def _histogram(scores: PairScores, bins: int = HIST_BINS) -> dict[str, list[float] | list[int]]:
    edges = np.linspace(-1.0, 1.0, 2 * bins + 1)
    return {
        "edges": [round(float(e), 4) for e in edges],
        "same": np.histogram(scores.same, edges)[0].tolist(),
        "different": np.histogram(scores.different, edges)[0].tolist(),
    }


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold for one ReID model and what it means.

    Attributes:
        model_id: the model whose similarities these are (never reuse for another model).
        threshold: cosine-similarity threshold (match when >= it).
        target_fmr: the false-match rate asked for.
        fmr, tpr: measured at ``threshold`` on the calibration pairs.
        uncertain_below: threshold for 10x the target FMR: a best score in
            [uncertain_below, threshold) is a case for a human, not a match
            (``MatcherSettings.uncertain_band = threshold - uncertain_below``).
        num_same, num_different: pair counts; num_images, num_identities: what they came from.
        same_mean, different_mean: mean similarity of each kind of pair.
        curve: ``[(threshold, fmr, tpr), ...]`` on a 0.01 grid, for ``rates_at``.
        histogram: ``{"edges", "same", "different"}`` counts, for a UI to draw.
        holdout: FMR/TPR at ``threshold`` on pairs not used to pick it, when given.
        data, created_at: provenance.
    """

    model_id: str
    threshold: float
    target_fmr: float
    fmr: float
    tpr: float
    uncertain_below: float
    num_same: int
    num_different: int
    num_images: int
    num_identities: int
    same_mean: float
    different_mean: float
    curve: list[tuple[float, float, float]] = field(repr=False)
    histogram: dict[str, Any] = field(repr=False)
    holdout: dict[str, float] | None = None
    data: str = ""
    created_at: float = 0.0

    def rates_at(self, threshold: float) -> tuple[float, float]:
        """(FMR, TPR) the calibration pairs give at another threshold (the grid point at or above it)."""
        for t, fmr, tpr in self.curve:
            if t >= threshold - 1e-9:
                return fmr, tpr
        return 0.0, 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        data = dict(data)
        data["curve"] = [tuple(row) for row in data.get("curve", [])]
        return cls(**data)


def calibrate(
    scores: PairScores,
    model_id: str,
    target_fmr: float = 0.01,
    num_images: int = 0,
    num_identities: int = 0,
    data: str = "",
) -> Calibration:
    """Pick the threshold for ``target_fmr`` and describe both distributions."""
    threshold = threshold_for_fmr(scores.different, target_fmr)
    loose = threshold_for_fmr(scores.different, min(10 * target_fmr, 0.5))
    fmr, tpr = rates(threshold, scores)
    return Calibration(
        model_id=model_id,
        threshold=threshold,
        target_fmr=target_fmr,
        fmr=fmr,
        tpr=tpr,
        uncertain_below=min(loose, threshold),
        num_same=len(scores.same),
        num_different=len(scores.different),
        num_images=num_images,
        num_identities=num_identities,
        same_mean=float(scores.same.mean()),
        different_mean=float(scores.different.mean()),
        curve=roc_curve(scores),
        histogram=_histogram(scores),
        data=data,
        created_at=round(time.time(), 3),
    )


def with_holdout(cal: Calibration, scores: PairScores) -> Calibration:
    """``cal`` with the FMR/TPR its threshold gives on held-out pairs."""
    fmr, tpr = rates(cal.threshold, scores)
    holdout = {"fmr": fmr, "tpr": tpr, "num_same": len(scores.same), "num_different": len(scores.different)}
    return Calibration.from_dict({**asdict(cal), "holdout": holdout})


def save_calibration(cal: Calibration, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CALIBRATION_FILE
    path.write_text(cal.to_json(), encoding="utf-8")
    return path


def load_calibration(path: str | Path) -> Calibration | None:
    """The calibration in ``path`` (a calibration.json, or a folder holding one); None when absent or bad.

    Never raises: a UI shows "not calibrated" rather than failing. A bad file is logged.
    """
    p = Path(path)
    if p.is_dir():
        p = p / CALIBRATION_FILE
    if not p.is_file():
        return None
    try:
        return Calibration.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring unreadable calibration %s: %s", p, exc)
        return None
