"""Contract every Detector backend keeps: shapes, dtype, empty input, coordinates, errors.

The real-backend cases need ``REIDCAM_WEIGHTS_DIR`` and ``REIDCAM_MEDIA_DIR``
(marked ``models``); the error cases run everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.config.schema import DetectorConfig
from reidcam.core.errors import WeightsError
from reidcam.core.types import Detections
from reidcam.detect import Detector, UltralyticsDetector, build_detector
from reidcam.detect.ultralytics_yolo import find_person_class

BACKENDS = ["yolov8n_int8.tflite", "yolo11n-pose.pt"]


def _env_dir(var: str) -> Path:
    value = os.environ.get(var)
    if not value or not Path(value).is_dir():
        pytest.skip(
            f"{var} is not set to a folder: point it at the verified weights/media "
            "(CI: ../shared/assets/weights and ../shared/assets/media; "
            "`reidcam weights list` says where to get them)"
        )
    return Path(value)


@pytest.fixture(scope="module", params=BACKENDS)
def detector(request: pytest.FixtureRequest) -> Detector:
    path = _env_dir("REIDCAM_WEIGHTS_DIR") / request.param
    if not path.exists():
        pytest.skip(f"{request.param} is not in {path.parent}")
    cfg = DetectorConfig(confidence=0.35, min_box_height_px=0, min_box_width_px=0)
    return build_detector(cfg, path)


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    path = _env_dir("REIDCAM_MEDIA_DIR") / "bus.jpg"
    image = cv2.imread(str(path))
    if image is None:
        pytest.skip(f"cannot read {path}")
    return image


def test_missing_weights_is_a_weights_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "yolov8n_int8.tflite"
    with pytest.raises(WeightsError, match=str(missing)):
        UltralyticsDetector(missing, 0.35, 0.5, 640, 40, 12)
    with pytest.raises(WeightsError, match=str(missing)):
        build_detector(DetectorConfig(), missing)


def test_corrupt_weights_is_a_weights_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match=r"broken\.pt"):
        UltralyticsDetector(broken, 0.35, 0.5, 640, 40, 12)


def test_find_person_class() -> None:
    assert find_person_class({0: "person", 1: "bicycle"}) == 0
    assert find_person_class({0: "car", 7: "Person"}) == 7
    assert find_person_class(["car", "person"]) == 1
    with pytest.raises(WeightsError, match="person"):
        find_person_class({0: "car", 1: "bus"})


@pytest.mark.models
def test_is_a_detector(detector: Detector) -> None:
    assert isinstance(detector, Detector)


@pytest.mark.models
def test_empty_batch_gives_empty_list(detector: Detector) -> None:
    assert detector.detect([]) == []


@pytest.mark.models
def test_one_result_per_image_with_shapes_and_dtype(detector: Detector, bus: np.ndarray) -> None:
    images = [bus, np.zeros((240, 320, 3), np.uint8), cv2.resize(bus, None, fx=0.5, fy=0.5)]
    results = detector.detect(images)
    assert len(results) == 3
    for image, dets in zip(images, results, strict=True):
        assert isinstance(dets, Detections)
        assert dets.xyxy.dtype == np.float32 and dets.confidence.dtype == np.float32
        assert dets.xyxy.shape == (len(dets), 4) and dets.confidence.shape == (len(dets),)
        h, w = image.shape[:2]
        assert np.all(dets.xyxy >= -1) and np.all(dets.xyxy[:, [0, 2]] <= w + 1)
        assert np.all(dets.xyxy[:, [1, 3]] <= h + 1)
        assert np.all((dets.confidence >= 0.35) & (dets.confidence <= 1))
    assert len(results[1]) == 0  # a black image has nobody in it


@pytest.mark.models
def test_boxes_are_in_each_images_own_pixels(detector: Detector, bus: np.ndarray) -> None:
    full, half = detector.detect([bus, cv2.resize(bus, None, fx=0.5, fy=0.5)])
    big = full.xyxy[np.argmax(full.confidence)]
    nearest = half.xyxy[np.argmin(np.abs(half.xyxy * 2 - big).sum(axis=1))]
    np.testing.assert_allclose(nearest * 2, big, atol=25)


@pytest.mark.models
def test_batch_gives_the_same_as_one_by_one(detector: Detector, bus: np.ndarray) -> None:
    flipped = np.ascontiguousarray(bus[:, ::-1])
    batch = detector.detect([bus, flipped])
    single = [detector.detect([bus])[0], detector.detect([flipped])[0]]
    for b, s in zip(batch, single, strict=True):
        assert len(b) == len(s)
        np.testing.assert_allclose(np.sort(b.xyxy, axis=0), np.sort(s.xyxy, axis=0), atol=2)


@pytest.mark.models
def test_bad_images_are_rejected(detector: Detector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([np.zeros((64, 64, 3), np.float32)])
    with pytest.raises(ValueError, match="shape"):
        detector.detect([np.zeros((64, 64), np.uint8)])


@pytest.mark.models
def test_min_box_size_filters(bus: np.ndarray) -> None:
    path = _env_dir("REIDCAM_WEIGHTS_DIR") / BACKENDS[0]
    if not path.exists():
        pytest.skip(f"{path.name} is not in {path.parent}")
    tall_only = UltralyticsDetector(path, 0.35, 0.5, 640, min_box_height_px=400, min_box_width_px=0)
    wide_only = UltralyticsDetector(path, 0.35, 0.5, 640, min_box_height_px=0, min_box_width_px=10_000)
    dets = tall_only.detect([bus])[0]
    assert len(dets) >= 3
    assert np.all(dets.xyxy[:, 3] - dets.xyxy[:, 1] >= 400)
    assert len(wide_only.detect([bus])[0]) == 0
