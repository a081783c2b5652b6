"""The YOLOX backend against the real weights: the Detector contract on both runtimes, and agreement.

Needs ``REIDCAM_WEIGHTS_DIR`` (yolox_nano.onnx) and ``REIDCAM_MEDIA_DIR`` (bus.jpg, the Market
frames); without them every test here skips saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.config.schema import DetectorConfig
from reidcam.core.geometry import iou_matrix
from reidcam.core.types import Detections
from reidcam.detect import SizedDetector, build_detector
from reidcam.detect.yolox import YoloxDetector

pytestmark = pytest.mark.models


def _env_file(var: str, name: str) -> Path:
    value = os.environ.get(var)
    path = Path(value or "") / name
    if not value or not path.exists():
        pytest.skip(f"{name} not found: set {var} to the verified assets folder (CI: ../shared/assets/...)")
    return path


@pytest.fixture(scope="module", params=["onnxruntime", "openvino"])
def detector(request: pytest.FixtureRequest) -> YoloxDetector:
    if request.param == "openvino":
        pytest.importorskip("openvino")
    weights = _env_file("REIDCAM_WEIGHTS_DIR", "yolox_nano.onnx")
    cfg = DetectorConfig(weights="yolox_nano", backend=request.param, threads=1, min_box_height_px=0)
    det = build_detector(cfg, weights)
    assert isinstance(det, YoloxDetector) and det.runtime == request.param
    return det


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    image = cv2.imread(str(_env_file("REIDCAM_MEDIA_DIR", "bus.jpg")))
    assert image is not None
    return image


def test_finds_the_people_of_bus_jpg_inside_the_image(detector: YoloxDetector, bus: np.ndarray) -> None:
    dets = detector.detect([bus])[0]
    assert isinstance(dets, Detections) and dets.xyxy.dtype == np.float32
    assert 3 <= len(dets) <= 6
    h, w = bus.shape[:2]
    assert np.all(dets.xyxy[:, [0, 2]] >= -1) and np.all(dets.xyxy[:, [0, 2]] <= w + 1)
    assert np.all(dets.xyxy[:, [1, 3]] >= -1) and np.all(dets.xyxy[:, [1, 3]] <= h + 1)
    assert np.all((dets.confidence > 0) & (dets.confidence <= 1))


def test_batch_of_mixed_sizes_matches_single_calls(detector: YoloxDetector, bus: np.ndarray) -> None:
    small = cv2.resize(bus, (bus.shape[1] // 2, bus.shape[0] // 2))
    batch = detector.detect_sized([bus, small, bus], [640, 416, 640])
    assert isinstance(detector, SizedDetector)
    single = detector.detect_sized([bus], [640])[0]
    assert len(batch[0]) == len(batch[2]) == len(single)
    assert np.allclose(batch[0].xyxy, single.xyxy, atol=0.5)
    assert detector.detect([]) == []


def test_input_size_follows_the_camera(detector: YoloxDetector) -> None:
    assert detector.input_shape_for(576, 768, 416) == (320, 416)
    assert detector.input_shape_for(1080, 1920, 640) == (384, 640)


def test_both_runtimes_agree(bus: np.ndarray) -> None:
    pytest.importorskip("openvino")
    weights = _env_file("REIDCAM_WEIGHTS_DIR", "yolox_nano.onnx")
    a = YoloxDetector(weights, runtime="onnxruntime", threads=1).detect([bus])[0]
    b = YoloxDetector(weights, runtime="openvino", threads=1).detect([bus])[0]
    assert len(a) == len(b) and len(a) > 0
    assert iou_matrix(a.xyxy, b.xyxy).max(axis=1).min() > 0.95


def test_finds_the_small_woman_on_both_market_cameras_at_640() -> None:
    weights = _env_file("REIDCAM_WEIGHTS_DIR", "yolox_nano.onnx")
    frames = _env_file("REIDCAM_MEDIA_DIR", "market1501_2cam/frames")
    det = YoloxDetector(weights, runtime="onnxruntime", imgsz=640)
    boxes = {"c1s1_014601.jpg": [1776, 407, 1823, 563], "c3s1_000501.jpg": [989, 426, 1063, 601]}
    for name, box in boxes.items():
        found = det.detect([cv2.imread(str(frames / name))])[0]
        assert len(found) and iou_matrix(found.xyxy, np.array([box], np.float32)).max() >= 0.5, name
