"""How close the label-free per-camera estimate comes to the truth, on MOTChallenge sequences.

Each sequence is one camera run through the product pipeline (``pipeline.autocal_run``).
The estimator sees no labels: its negatives are sightings seen apart at the same time, its
positives the halves of long tracks. The truth uses the same sightings (the same crops and
prototypes): a sighting's ground-truth person is the gt.txt id most of its boxes overlap
(IoU >= 0.5, pedestrians only); sightings of no ground-truth person are left out of the
truth. True false-match rate: over every pair of sightings of one sequence with different
ground-truth ids; true true-match rate: over the same halves the estimator used, kept only
where both halves are of one ground-truth person, plus every pair of sightings of one id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.geometry import iou_matrix
from reidcam.core.types import Sighting
from reidcam.eval.mot_io import MotSequence, pedestrian_boxes, read_gt
from reidcam.match.autocal import SIGHTING_HALVES, SeparationEstimator
from reidcam.match.calibration import PairScores, threshold_for_fmr
from reidcam.pipeline.autocal_run import TrackLog

MIN_IOU = 0.5
POOLED = "all sequences"


@dataclass(frozen=True)
class AutocalCheck:
    """Estimated vs ground-truth rates of one camera (or pooled) at two thresholds."""

    camera: str
    sightings: int
    est_negatives: int
    gt_negatives: int
    est_positives: int
    gt_positives: int
    threshold: float  # chosen from the estimate for the target FMR
    est_fmr_fixed: float
    gt_fmr_fixed: float
    est_fmr_chosen: float
    gt_fmr_chosen: float
    est_tmr_chosen: float | None
    gt_tmr_chosen: float | None
    fixed: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gt_boxes(seq: MotSequence) -> dict[str, tuple[NDArray[np.float32], NDArray[np.int64]]]:
    """Frame file name -> (xyxy, ids) of the evaluated pedestrians."""
    rows = pedestrian_boxes(read_gt(seq.gt_path))
    out = {}
    for number, path in seq.frames:
        r = rows[rows[:, 0] == number]
        xyxy = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1).astype(np.float32)
        out[path.name] = (xyxy.reshape(-1, 4), r[:, 1].astype(np.int64))
    return out


def track_identities(seq: MotSequence, log: TrackLog) -> dict[int, int]:
    """track id -> ground-truth id (the id most of its boxes overlap by IoU >= 0.5, when that
    is more than half of its boxes) for the tracks of camera ``seq.name``."""
    gt = _gt_boxes(seq)
    out = {}
    for (camera, track_id), boxes in log.boxes.items():
        if camera != seq.name:
            continue
        votes: Counter[int] = Counter()
        for name, xyxy in boxes:
            g_xyxy, g_ids = gt.get(name, (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
            if len(g_ids):
                iou = iou_matrix(xyxy.reshape(1, 4), g_xyxy)[0]
                if iou.max() >= MIN_IOU:
                    votes[int(g_ids[int(iou.argmax())])] += 1
        if votes:
            gid, n = votes.most_common(1)[0]
            if n > len(boxes) / 2:
                out[track_id] = gid
    return out


def gt_pairs(sightings: list[Sighting], ids: dict[int, int]) -> PairScores:
    """True pairs among one camera's sightings with a ground-truth id (see the module doc)."""
    labelled = [
        (s, ids[s.key.track_id]) for s in sightings if s.prototype is not None and s.key.track_id in ids
    ]
    same: list[float] = []
    diff: list[float] = []
    for i, (a, ga) in enumerate(labelled):
        halves = a.extra.get(SIGHTING_HALVES)
        if isinstance(halves, tuple):
            same.append(float(halves[0] @ halves[1]))
        for b, gb in labelled[i + 1 :]:
            (same if ga == gb else diff).append(float(a.prototype @ b.prototype))  # type: ignore[operator]
    return PairScores(np.asarray(same, np.float32), np.asarray(diff, np.float32))


def _rate(x: NDArray[np.float32], t: float) -> float | None:
    return float(np.mean(x >= t)) if len(x) else None


def compare(
    camera: str, n_sightings: int, est: PairScores, gt: PairScores, target_fmr: float, fixed: float
) -> AutocalCheck:
    """Both rates at ``fixed`` and at the threshold the estimate picks for ``target_fmr``."""
    t = threshold_for_fmr(est.different, target_fmr) if len(est.different) else float("nan")
    return AutocalCheck(
        camera=camera,
        sightings=n_sightings,
        est_negatives=len(est.different),
        gt_negatives=len(gt.different),
        est_positives=len(est.same),
        gt_positives=len(gt.same),
        threshold=t,
        est_fmr_fixed=_rate(est.different, fixed) or 0.0,
        gt_fmr_fixed=_rate(gt.different, fixed) or 0.0,
        est_fmr_chosen=_rate(est.different, t) or 0.0,
        gt_fmr_chosen=_rate(gt.different, t) or 0.0,
        est_tmr_chosen=_rate(est.same, t),
        gt_tmr_chosen=_rate(gt.same, t),
        fixed=fixed,
    )


def validate(
    seqs: list[MotSequence], estimator: SeparationEstimator, log: TrackLog, fixed: float = 0.65
) -> list[AutocalCheck]:
    """One row per sequence (camera) and a pooled row (all sequences' pairs together)."""
    target = estimator.settings.target_fmr
    rows, all_est, all_gt, n_all = [], [], [], 0
    for seq in seqs:
        sightings = [s for s in log.sightings if s.key.camera_id == seq.name]
        est = estimator.scores(seq.name)
        gt = gt_pairs(sightings, track_identities(seq, log))
        rows.append(compare(seq.name, len(sightings), est, gt, target, fixed))
        all_est.append(est)
        all_gt.append(gt)
        n_all += len(sightings)
    pooled = [
        PairScores(np.concatenate([p.same for p in ps]), np.concatenate([p.different for p in ps]))
        for ps in (all_est, all_gt)
    ]
    rows.append(compare(POOLED, n_all, pooled[0], pooled[1], target, fixed))
    return rows


def table(rows: list[AutocalCheck]) -> str:
    """Markdown: estimated vs ground-truth FMR at the fixed and at the chosen threshold."""

    def pc(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.2f} %"

    f = rows[0].fixed if rows else 0.65
    lines = [
        f"| camera | sightings | pairs different (est / GT) | FMR at {f} est / GT | chosen threshold "
        "| FMR there est / GT | TMR there est / GT |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.camera} | {r.sightings} | {r.est_negatives} / {r.gt_negatives} "
            f"| {pc(r.est_fmr_fixed)} / {pc(r.gt_fmr_fixed)} | {r.threshold:.4f} "
            f"| {pc(r.est_fmr_chosen)} / {pc(r.gt_fmr_chosen)} "
            f"| {pc(r.est_tmr_chosen)} / {pc(r.gt_tmr_chosen)} |"
        )
    return "\n".join(lines)


def mot_cameras(seqs: list[MotSequence]) -> list[dict[str, Any]]:
    """Config cameras playing each sequence's image folder once."""
    return [{"id": s.name, "source": str(Path(s.frames[0][1]).parent)} for s in seqs]
