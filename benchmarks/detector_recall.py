"""Detector recall/precision on the labelled boxes of the verified media, and time per frame.

Labelled sets: the first frame of each MOT17-mini sequence (people with visibility >= 0.5 and
height >= 60 px, IoU >= 0.5), and the hand-labelled boxes of the woman in the Market frames
(recall only: the other people there are not labelled). Prints one JSON document.

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/detector_recall.py
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from reidcam.config import DetectorConfig
from reidcam.core.geometry import iou_matrix
from reidcam.detect import build_detector
from reidcam.eval.build_set import default_frame_labels

log = logging.getLogger("detector_recall")

# (label, weights file, backend, imgsz)
DETECTORS = [
    ("yolov8n_int8.tflite (Ultralytics, 640)", "yolov8n_int8.tflite", "ultralytics", 640),
    ("yolo11n-pose.pt (Ultralytics, 640)", "yolo11n-pose.pt", "ultralytics", 640),
    ("yolox_nano (onnxruntime, 416)", "yolox_nano.onnx", "onnxruntime", 416),
    ("yolox_nano (onnxruntime, 640)", "yolox_nano.onnx", "onnxruntime", 640),
    ("yolox_nano (onnxruntime, 960)", "yolox_nano.onnx", "onnxruntime", 960),
]
# Market frame -> the woman's box (the hand labels that ship with reidcam).
WOMAN: dict[str, list[int]] = default_frame_labels()["boxes"]


def mot_first_frames(media: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, gt boxes xyxy) of the first frame of each MOT17-mini sequence."""
    out = []
    for seq in sorted((media / "MOT17-mini").glob("MOT17-*")):
        images = sorted((seq / "img1").glob("*.jpg"))
        gt_file = seq / "gt" / "gt.txt"
        if not images or not gt_file.is_file():
            continue
        frame_no = int(images[0].stem)
        gt = np.loadtxt(gt_file, delimiter=",", ndmin=2)
        rows = gt[
            (gt[:, 0] == frame_no) & (gt[:, 6] == 1) & (gt[:, 7] == 1) & (gt[:, 8] >= 0.5) & (gt[:, 5] >= 60)
        ]
        boxes = np.stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], 1)
        out.append((cv2.imread(str(images[0])), boxes.astype(np.float32)))
    return out


def score(detector: object, samples: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    tp = n_gt = n_det = 0
    times = []
    for image, gt in samples:
        t0 = time.perf_counter()
        dets = detector.detect([image])[0]  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
        keep = (dets.xyxy[:, 3] - dets.xyxy[:, 1]) >= 50  # do not count tiny boxes against precision
        boxes = dets.xyxy[keep]
        n_gt, n_det = n_gt + len(gt), n_det + len(boxes)
        if len(gt) and len(boxes):
            tp += int((iou_matrix(gt, boxes).max(axis=1) >= 0.5).sum())
    return {
        "recall": round(tp / max(n_gt, 1), 3),
        "precision": round(tp / max(n_det, 1), 3),
        "ms_per_frame_median": round(float(np.median(times)), 1),
    }


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    weights, media = Path(os.environ["REIDCAM_WEIGHTS_DIR"]), Path(os.environ["REIDCAM_MEDIA_DIR"])
    mot = mot_first_frames(media)
    frames = media / "market1501_2cam" / "frames"
    woman = [(cv2.imread(str(frames / n)), np.array([b], np.float32)) for n, b in WOMAN.items()]
    report = {}
    for label, file, backend, imgsz in DETECTORS:
        cfg = DetectorConfig(backend=backend, imgsz=imgsz, min_box_height_px=0, min_box_width_px=0)
        with contextlib.redirect_stdout(sys.stderr):  # Ultralytics prints its loading messages
            det = build_detector(cfg, weights / file, threads=2)
            report[label] = {
                "mot17_first_frames": score(det, mot),
                "market_woman_recall": score(det, woman)["recall"],
            }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
