"""How many kept detections are not people: precision of kept crops on MOT17-mini ground truth.

A detection is matched one-to-one (greedy by IoU, IoU >= 0.5) first to the evaluated pedestrians
(class 1, consider flag 1): a true person. What is left is matched to the ground truth's
person-like distractors (person on vehicle, static person, distractor, reflection; and
pedestrians not to be evaluated): ignored, neither right nor wrong. The rest is a false
positive: a detection of no person (a wheel, a sign, a bag, a piece of a car).

``score_frames`` scores a keep-mask per detection, so a filter (a confidence floor, a pose check)
is compared with keeping everything on the very same detections. Figures in docs/accuracy.md;
command ``benchmarks/nonperson_filter.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reidcam.capture import imread_color
from reidcam.core.geometry import iou_matrix
from reidcam.core.types import Detections
from reidcam.eval.dataset import DatasetError
from reidcam.eval.mot_io import MotSequence, find_sequences, keep_frames, read_gt
from reidcam.reid.crop_gate import CropGate, crop_quality

MIN_IOU = 0.5
PERSON_LIKE = (2, 7, 8, 12)  # MOT17 classes that are people but not evaluated pedestrians


@dataclass(frozen=True)
class FrameDetections:
    """One frame's detections, whether each is a good crop, and its ground truth split in two."""

    sequence: str
    frame: int
    image: NDArray[np.uint8]
    detections: Detections
    good: NDArray[np.bool_]
    people: NDArray[np.float32]  # evaluated pedestrians, xyxy
    ignore: NDArray[np.float32]  # person-like boxes not evaluated, xyxy


@dataclass(frozen=True)
class KeptScore:
    """Kept detections: true people, ignored, false positives; and evaluated people found."""

    kept: int
    true_people: int
    ignored: int
    false_positives: int
    people_found: int
    people_total: int

    @property
    def precision(self) -> float:
        judged = self.true_people + self.false_positives
        return self.true_people / judged if judged else 1.0

    @property
    def people_recall(self) -> float:
        return self.people_found / self.people_total if self.people_total else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            **self.__dict__,
            "precision": round(self.precision, 4),
            "people_recall": round(self.people_recall, 4),
        }


def _xyxy(rows: NDArray[np.float64]) -> NDArray[np.float32]:
    return (
        np.stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], 1)
        .astype(np.float32)
        .reshape(-1, 4)
    )


def _greedy(iou: NDArray[np.float32]) -> list[tuple[int, int]]:
    """One-to-one pairs (row, col) with IoU >= MIN_IOU, best first."""
    pairs, used_r, used_c = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        r, c = np.unravel_index(flat, iou.shape)
        if iou[r, c] < MIN_IOU:
            break
        if r not in used_r and c not in used_c:
            pairs.append((int(r), int(c)))
            used_r.add(r)
            used_c.add(c)
    return pairs


def label_detections(fd: FrameDetections) -> NDArray[np.int8]:
    """Per detection: 1 a true person, 0 ignored (person-like distractor), -1 a false positive."""
    n = len(fd.detections)
    out = np.full(n, -1, np.int8)
    for r, _ in _greedy(iou_matrix(fd.detections.xyxy, fd.people)):
        out[r] = 1
    rest = np.flatnonzero(out == -1)
    for r, _ in _greedy(iou_matrix(fd.detections.xyxy[rest], fd.ignore)):
        out[rest[r]] = 0
    return out


def score_frames(frames: list[FrameDetections], keep: list[NDArray[np.bool_]]) -> KeptScore:
    """Score the kept detections (``keep[i]`` a mask over frame i's detections)."""
    kept = tp = ign = fp = found = total = 0
    for fd, mask in zip(frames, keep, strict=True):
        labels = label_detections(fd)
        kept += int(mask.sum())
        tp += int(np.sum(mask & (labels == 1)))
        ign += int(np.sum(mask & (labels == 0)))
        fp += int(np.sum(mask & (labels == -1)))
        total += len(fd.people)
        found += len(_greedy(iou_matrix(fd.detections.xyxy[mask], fd.people)))
    return KeptScore(kept, tp, ign, fp, found, total)


def _frames_of(
    seq: MotSequence, detect: Callable[[NDArray[np.uint8]], Detections], gate: CropGate
) -> Iterator[FrameDetections]:
    gt = keep_frames(read_gt(seq.gt_path), seq.frame_numbers)
    for number, path in seq.frames:
        image = imread_color(path)
        if image is None:
            raise DatasetError(f"cannot read frame {path}")
        rows = gt[gt[:, 0] == number]
        people = rows[(rows[:, 7] == 1) & (rows[:, 6] != 0)]
        ignore = rows[np.isin(rows[:, 7], PERSON_LIKE) | ((rows[:, 7] == 1) & (rows[:, 6] == 0))]
        det = detect(image)
        good = crop_quality(det.xyxy, image.shape[1], image.shape[0], gate).ok
        yield FrameDetections(seq.name, number, image, det, good, _xyxy(people), _xyxy(ignore))


def detect_frames(
    mot_root: Path, detect: Callable[[NDArray[np.uint8]], Detections], gate: CropGate
) -> list[FrameDetections]:
    """Every frame on disk of every MOT17-mini sequence, detected and gated."""
    return [fd for seq in find_sequences(mot_root) for fd in _frames_of(seq, detect, gate)]
