"""Tracking accuracy: MOTA, IDF1 and HOTA of detector + tracker on MOTChallenge sequences.

The metrics come from TrackEval (``pip install trackeval==1.3.0``; py-motmetrics 1.4.0 is
broken under NumPy 2), run on its MOTChallenge dataset class so the standard preprocessing
applies: only class 1 (pedestrian) boxes with consider-flag 1 are scored, and tracker boxes
that match (IoU >= 0.5) a distractor box (person on vehicle, static person, distractor,
reflection) are removed instead of being counted as false positives.

Only the frames present in ``img1/`` are evaluated: the ground truth is cut to those frame
numbers and both files are renumbered 1..K, since TrackEval wants contiguous time steps.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.capture import imread_color
from reidcam.core.errors import DependencyError
from reidcam.core.types import Frame
from reidcam.detect.base import Detector
from reidcam.eval.dataset import DatasetError
from reidcam.eval.mot_io import MotSequence, pedestrian_boxes, read_gt, renumber_frames, write_mot_txt
from reidcam.track.base import Tracker

log = logging.getLogger(__name__)

COMBINED = "COMBINED"
_TRACKER_NAME = "reidcam"


@dataclass(frozen=True)
class MotScores:
    """Scores of one sequence (or ``COMBINED``: all sequences pooled, as TrackEval combines them).

    Rates are fractions (MOTA can be negative); counts are boxes unless named ids.
    """

    sequence: str
    frames: int
    gt_boxes: int
    gt_ids: int
    mota: float
    idf1: float
    hota: float
    deta: float
    assa: float
    recall: float
    precision: float
    id_switches: int
    false_positives: int
    misses: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _import_trackeval() -> Any:
    try:
        import trackeval
    except ImportError as exc:
        raise DependencyError(
            "tracking metrics need TrackEval: pip install trackeval==1.3.0 "
            "(py-motmetrics 1.4.0 does not run under NumPy 2)"
        ) from exc
    return trackeval


def _write_layout(
    tmp: Path, gt: Mapping[str, NDArray[np.float64]], res: Mapping[str, NDArray[np.float64]]
) -> None:
    for seq, rows in gt.items():
        write_mot_txt(tmp / "gt" / seq / "gt" / "gt.txt", rows)
        write_mot_txt(tmp / "trackers" / _TRACKER_NAME / "data" / f"{seq}.txt", res[seq])


def _configs(tmp: Path, lengths: Mapping[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    eval_cfg = {
        "USE_PARALLEL": False,
        "BREAK_ON_ERROR": True,
        "LOG_ON_ERROR": None,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False,
    }
    data_cfg = {
        "GT_FOLDER": str(tmp / "gt"),
        "TRACKERS_FOLDER": str(tmp / "trackers"),
        "OUTPUT_FOLDER": str(tmp / "out"),
        "TRACKERS_TO_EVAL": [_TRACKER_NAME],
        "CLASSES_TO_EVAL": ["pedestrian"],
        "BENCHMARK": "MOT17",
        "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": dict(lengths),
        "PRINT_CONFIG": False,
    }
    return eval_cfg, data_cfg


def _scores(name: str, frames: int, res: Mapping[str, Any]) -> MotScores:
    hota, clear, ident, count = res["HOTA"], res["CLEAR"], res["Identity"], res["Count"]
    return MotScores(
        sequence=name,
        frames=frames,
        gt_boxes=int(count["GT_Dets"]),
        gt_ids=int(count["GT_IDs"]),
        mota=float(clear["MOTA"]),
        idf1=float(ident["IDF1"]),
        hota=float(np.mean(hota["HOTA"])),
        deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])),
        recall=float(clear["CLR_Re"]),
        precision=float(clear["CLR_Pr"]),
        id_switches=int(clear["IDSW"]),
        false_positives=int(clear["CLR_FP"]),
        misses=int(clear["CLR_FN"]),
    )


def evaluate_mot(
    gt: Mapping[str, NDArray[np.float64]],
    results: Mapping[str, NDArray[np.float64]],
    lengths: Mapping[str, int],
) -> list[MotScores]:
    """MOTA, IDF1 and HOTA per sequence and combined, through TrackEval.

    Args:
        gt: sequence name -> (N, 9) gt rows with frames numbered 1..length.
        results: sequence name -> (M, >=7) tracker rows (frame, id, x, y, w, h, conf), same numbering.
        lengths: sequence name -> number of frames.

    Returns:
        One MotScores per sequence (sorted by name), then the ``COMBINED`` one.

    Raises:
        DependencyError: TrackEval is not installed.
        ValueError: the three mappings do not name the same sequences.
    """
    if not (set(gt) == set(results) == set(lengths)) or not gt:
        raise ValueError("gt, results and lengths must name the same (non-empty) set of sequences")
    trackeval = _import_trackeval()
    with tempfile.TemporaryDirectory(prefix="reidcam-mot-") as tmp_name:
        tmp = Path(tmp_name)
        _write_layout(tmp, gt, results)
        eval_cfg, data_cfg = _configs(tmp, lengths)
        chatter = io.StringIO()  # TrackEval prints progress to stdout; keep it for the debug log
        with contextlib.redirect_stdout(chatter):
            quiet = {"PRINT_CONFIG": False}
            metrics = [
                trackeval.metrics.HOTA(),
                trackeval.metrics.CLEAR(quiet),
                trackeval.metrics.Identity(quiet),
            ]
            evaluator = trackeval.Evaluator(eval_cfg)
            dataset = trackeval.datasets.MotChallenge2DBox(data_cfg)
            out, _ = evaluator.evaluate([dataset], metrics)
        log.debug("TrackEval: %s", chatter.getvalue())
    per_seq = out["MotChallenge2DBox"][_TRACKER_NAME]
    rows = [_scores(seq, lengths[seq], per_seq[seq]["pedestrian"]) for seq in sorted(lengths)]
    rows.append(_scores(COMBINED, sum(lengths.values()), per_seq["COMBINED_SEQ"]["pedestrian"]))
    return rows


def _read_frame(path: Path, camera_id: str, index: int) -> Frame:
    image = imread_color(path)
    if image is None:
        raise DatasetError(f"cannot read frame {path}")
    return Frame(camera_id, index, image, float(index), path.name)


def track_sequence(
    seq: MotSequence,
    detector: Detector,
    tracker: Tracker,
    on_frame: Callable[[], object] | None = None,
) -> NDArray[np.float64]:
    """Run detection + tracking over the frames on disk; MOT rows with the real frame numbers.

    Returns:
        (N, 10) float64 rows ``frame, id, x, y, w, h, conf, -1, -1, -1``.
    """
    rows: list[list[float]] = []
    for i, (number, path) in enumerate(seq.frames):
        frame = _read_frame(path, seq.name, i)
        dets = detector.detect([frame.image])[0]
        tracks = tracker.update(dets, frame)
        for tid, box, conf in zip(tracks.track_id, tracks.xyxy, tracks.confidence, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            rows.append([number, int(tid), x1, y1, x2 - x1, y2 - y1, float(conf), -1, -1, -1])
        if on_frame is not None:
            on_frame()
    return np.asarray(rows, np.float64).reshape(-1, 10)


def evaluate_sequences(
    seqs: list[MotSequence],
    detector: Detector,
    make_tracker: Callable[[MotSequence], Tracker],
    on_frame: Callable[[], object] | None = None,
) -> list[MotScores]:
    """Track each sequence with a fresh tracker and score it on the frames present.

    Raises:
        DatasetError: a sequence has no gt/gt.txt or unreadable frames.
    """
    gt, results, lengths = {}, {}, {}
    for seq in seqs:
        frames = seq.frame_numbers
        gt[seq.name] = renumber_frames(read_gt(seq.gt_path), frames)
        results[seq.name] = renumber_frames(
            track_sequence(seq, detector, make_tracker(seq), on_frame), frames
        )
        lengths[seq.name] = len(frames)
        n_ped = len(pedestrian_boxes(gt[seq.name]))
        log.info(
            "%s: %d frames, %d gt pedestrians, %d tracked boxes",
            seq.name,
            len(frames),
            n_ped,
            len(results[seq.name]),
        )
    return evaluate_mot(gt, results, lengths)
