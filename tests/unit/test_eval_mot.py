"""MOT metrics (through TrackEval) on tiny hand-made sequences whose answers are worked out by hand.

Boxes are exact copies of the ground truth (IoU 1), so HOTA is the same at every IoU threshold
and reduces to sqrt(DetA * AssA) with DetA = TP / (TP + FN + FP) and AssA the mean over
matches of TPA / (TPA + FNA + FPA).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from reidcam.core.types import Detections, Frame, Tracks
from reidcam.eval.mot import COMBINED, evaluate_mot, evaluate_sequences
from reidcam.eval.mot_io import find_sequences, read_gt, renumber_frames
from reidcam.testing.fakes import BACKGROUND, FakeDetector

pytest.importorskip("trackeval", reason="tracking metrics need trackeval==1.3.0")

BOX_A = (10, 10, 40, 80)  # x, y, w, h
BOX_B = (100, 10, 40, 80)


def gt_rows(person: int, frames, box, cls: int = 1, flag: int = 1):
    return [[f, person, *box, flag, cls, 1.0] for f in frames]


def res_rows(track: int, frames, box):
    return [[f, track, *box, 1.0, -1, -1, -1] for f in frames]


def score(gt, res, n):
    rows = evaluate_mot({"s": np.array(gt, float)}, {"s": np.array(res, float).reshape(-1, 10)}, {"s": n})
    assert rows[-1].sequence == COMBINED
    return rows[0]


def test_perfect_tracking_scores_one():
    gt = gt_rows(1, [1, 2, 3], BOX_A) + gt_rows(2, [1, 2, 3], BOX_B)
    res = res_rows(7, [1, 2, 3], BOX_A) + res_rows(9, [1, 2, 3], BOX_B)
    s = score(gt, res, 3)
    assert (s.mota, s.idf1, s.hota) == (1.0, 1.0, pytest.approx(1.0))
    assert (s.gt_boxes, s.gt_ids, s.id_switches, s.false_positives, s.misses) == (6, 2, 0, 0, 0)


def test_one_id_switch():
    """One person, 4 frames; the tracker changes id after frame 2.

    MOTA = 1 - IDSW / GT = 0.75; IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) = 4 / 8;
    DetA = 1, AssA = 2/4 for every match, HOTA = sqrt(0.5).
    """
    s = score(gt_rows(1, [1, 2, 3, 4], BOX_A), res_rows(10, [1, 2], BOX_A) + res_rows(11, [3, 4], BOX_A), 4)
    assert s.mota == pytest.approx(0.75)
    assert s.idf1 == pytest.approx(0.5)
    assert s.deta == pytest.approx(1.0) and s.assa == pytest.approx(0.5)
    assert s.hota == pytest.approx(math.sqrt(0.5))
    assert s.id_switches == 1


def test_false_positive_and_miss():
    """Frame 1: the tracker is elsewhere (1 FP, 1 FN); frame 2: right.

    MOTA = 1 - (1 + 1) / 2 = 0; IDF1 = 2*1 / (2*1 + 1 + 1) = 0.5; DetA = 1/3, AssA = 1/3, HOTA = 1/3.
    """
    res = res_rows(5, [1], (300, 300, 40, 80)) + res_rows(5, [2], BOX_A)
    s = score(gt_rows(1, [1, 2], BOX_A), res, 2)
    assert (s.mota, s.idf1) == (pytest.approx(0.0), pytest.approx(0.5))
    assert s.hota == pytest.approx(1 / 3)
    assert (s.false_positives, s.misses) == (1, 1)


def test_box_on_a_distractor_is_not_a_false_positive():
    """A static person (class 7, flag 0) is not scored, and a track on it is removed, not an FP."""
    gt = gt_rows(1, [1, 2], BOX_A) + gt_rows(2, [1, 2], BOX_B, cls=7, flag=0)
    res = res_rows(1, [1, 2], BOX_A) + res_rows(2, [1, 2], BOX_B)
    s = score(gt, res, 2)
    assert (s.gt_boxes, s.false_positives, s.mota) == (2, 0, 1.0)


def test_combined_pools_the_sequences():
    gt_a = np.array(gt_rows(1, [1, 2, 3, 4], BOX_A), float)
    res_a = np.array(res_rows(3, [1, 2, 3, 4], BOX_A), float)
    res_b = np.array(res_rows(10, [1, 2], BOX_A) + res_rows(11, [3, 4], BOX_A), float)
    rows = evaluate_mot({"a": gt_a, "b": gt_a}, {"a": res_a, "b": res_b}, {"a": 4, "b": 4})
    assert [r.sequence for r in rows] == ["a", "b", COMBINED]
    assert rows[2].mota == pytest.approx(1 - 1 / 8)
    assert rows[2].gt_boxes == 8 and rows[2].frames == 8


def test_mismatched_sequences_raise():
    with pytest.raises(ValueError, match="same"):
        evaluate_mot({"a": np.zeros((0, 9))}, {"b": np.zeros((0, 10))}, {"a": 1})


def test_renumber_keeps_only_present_frames():
    rows = np.array(gt_rows(1, [3, 5, 9, 11], BOX_A), float)
    out = renumber_frames(rows, [3, 5, 9])
    assert out[:, 0].tolist() == [1, 2, 3]


class _LeftToRight:
    """Tracker stand-in: ids by horizontal order (the people never cross)."""

    def update(self, detections: Detections, frame: Frame) -> Tracks:
        order = np.argsort(detections.xyxy[:, 0])
        n = len(order)
        ids = np.empty(n, np.int64)
        ids[order] = np.arange(1, n + 1)
        return Tracks(ids, detections.xyxy, detections.confidence, np.arange(n))

    def reset(self) -> None:
        return None


@pytest.fixture
def sequence(tmp_path):
    """Frames 1-3 on disk (two people, one static distractor); gt lists frames 1-6."""
    root = tmp_path / "SEQ-01"
    (root / "img1").mkdir(parents=True)
    (root / "gt").mkdir()
    (root / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nimDir=img1\nframeRate=10\nimWidth=320\n")
    gt = []
    for f in range(1, 7):
        a, b = (10 + 5 * f, 20, 30, 70), (150 - 5 * f, 20, 30, 70)
        gt += gt_rows(1, [f], a) + gt_rows(2, [f], b) + gt_rows(3, [f], (260, 100, 30, 70), cls=7, flag=0)
        if f <= 3:
            img = np.full((200, 320, 3), BACKGROUND, np.uint8)
            for (x, y, w, h), colour in (
                (a, (0, 0, 255)),
                (b, (0, 255, 0)),
                ((260, 100, 30, 70), (255, 0, 0)),
            ):
                img[y : y + h, x : x + w] = colour
            cv2.imwrite(str(root / "img1" / f"{f:06d}.png"), img)
    np.savetxt(root / "gt" / "gt.txt", np.array(gt), delimiter=",", fmt="%g")
    return tmp_path


def test_evaluate_sequences_on_frames_from_disk(sequence):
    seqs = find_sequences(sequence)
    assert [s.name for s in seqs] == ["SEQ-01"] and seqs[0].frame_numbers == [1, 2, 3]
    assert len(read_gt(seqs[0].gt_path)) == 18
    frames_seen = []
    rows = evaluate_sequences(
        seqs, FakeDetector(), lambda s: _LeftToRight(), on_frame=lambda: frames_seen.append(1)
    )
    s = rows[0]
    assert len(frames_seen) == 3
    assert (s.frames, s.gt_boxes, s.gt_ids) == (3, 6, 2)  # frames 4-6 of gt.txt are not on disk
    assert (s.mota, s.idf1, s.false_positives) == (1.0, 1.0, 0)
