"""YOLOX pre/post-processing on synthetic head outputs, and per-camera input sizes (no weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidcam.config import DetectorConfig
from reidcam.core.errors import WeightsError
from reidcam.detect import SizedDetector, detector_backend
from reidcam.detect import yolox as Y


def test_input_shape_keeps_the_aspect_and_rounds_each_side_to_32() -> None:
    assert Y.input_shape(576, 768, 416) == (320, 416)
    assert Y.input_shape(432, 768, 416) == (256, 416)
    assert Y.input_shape(1080, 1920, 640) == (384, 640)
    assert Y.input_shape(1920, 1080, 640) == (640, 384)
    assert Y.input_shape(10, 10, 416) == (416, 416)
    assert Y.input_shape(576, 768, 416, fixed=(416, 416)) == (416, 416)


def test_letterbox_pastes_top_left_on_grey_and_returns_the_scale() -> None:
    img = np.full((576, 768, 3), 7, np.uint8)
    x, r = Y.letterbox(img, (320, 416))
    assert x.shape == (3, 320, 416) and x.dtype == np.float32
    assert r == pytest.approx(416 / 768)
    assert np.all(x[:, :312, :] == 7) and np.all(x[:, 312:, :] == Y.PAD_VALUE)


def _raw(shape: tuple[int, int], cells: list[tuple[int, int, int, float, int]]) -> np.ndarray:
    """A head output with every score 0 except the given (stride, gx, gy, score, class) cells."""
    n = sum((shape[0] // s) * (shape[1] // s) for s in Y.STRIDES)
    raw = np.zeros((n, 85), np.float32)
    offset = 0
    for s in Y.STRIDES:
        w = shape[1] // s
        for stride, gx, gy, score, cls in cells:
            if stride == s:
                row = offset + gy * w + gx
                raw[row, :4] = (0.5, 0.5, np.log(2.0), np.log(4.0))  # centre of the cell, 2x4 strides
                raw[row, 4], raw[row, 5 + cls] = 1.0, score
        offset += (shape[0] // s) * w
    return raw


def test_decode_gives_the_person_box_in_frame_pixels() -> None:
    shape = (256, 416)
    raw = _raw(shape, [(16, 10, 5, 0.9, 0), (32, 2, 2, 0.9, 2)])  # a person and a car
    boxes, scores = Y.decode(raw, shape, scale=0.5, conf=0.3, iou=0.5)
    assert boxes.shape == (1, 4) and scores.tolist() == pytest.approx([0.9])
    cx, cy, w, h = (10.5 * 16, 5.5 * 16, 2 * 16, 4 * 16)
    expected = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) / 0.5
    assert boxes[0] == pytest.approx(expected, abs=1e-3)


def test_decode_suppresses_duplicates_and_low_scores() -> None:
    shape = (320, 416)
    raw = _raw(shape, [(8, 20, 20, 0.9, 0), (8, 20, 21, 0.8, 0), (8, 40, 10, 0.1, 0)])
    boxes, scores = Y.decode(raw, shape, 1.0, conf=0.3, iou=0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(0.9)
    empty, _ = Y.decode(np.zeros_like(raw), shape, 1.0, 0.3, 0.5)
    assert empty.shape == (0, 4)


def test_decode_rejects_an_output_of_the_wrong_size() -> None:
    raw = _raw((320, 416), [(8, 1, 1, 0.9, 0)])
    with pytest.raises(WeightsError, match="rows"):
        Y.decode(raw, (256, 416), 1.0, 0.3, 0.5)


class FakeSession:
    """Stands in for a runtime: records input shapes, answers with one person per image."""

    runtime = "fake"

    def __init__(self, dynamic: bool = True) -> None:
        self.dynamic = dynamic
        self.calls: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(tuple(batch.shape))
        shape = (batch.shape[2], batch.shape[3])
        return np.stack([_raw(shape, [(8, 3, 3, 0.9, 0)]) for _ in range(batch.shape[0])])


@pytest.fixture()
def fake_detector(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Y.YoloxDetector:
    session = FakeSession()
    monkeypatch.setattr(Y, "open_session", lambda path, runtime, threads, placement: session)
    weights = tmp_path / "yolox_nano.onnx"
    weights.write_bytes(b"not read: the session is faked")
    det = Y.YoloxDetector(weights, runtime="onnxruntime", imgsz=416)
    session.calls.clear()
    return det


def test_frames_of_one_shape_share_a_batch_and_sizes_are_per_camera(fake_detector: Y.YoloxDetector) -> None:
    assert isinstance(fake_detector, SizedDetector)
    vga, wide = np.zeros((576, 768, 3), np.uint8), np.zeros((432, 768, 3), np.uint8)
    out = fake_detector.detect_sized([vga, wide, vga], [None, None, 320])
    assert [len(d) for d in out] == [1, 1, 1]
    assert sorted(fake_detector.session.calls) == [(1, 3, 256, 320), (1, 3, 256, 416), (1, 3, 320, 416)]
    fake_detector.session.calls.clear()
    fake_detector.detect([vga, vga])
    assert fake_detector.session.calls == [(2, 3, 320, 416)]
    assert fake_detector.detect([]) == []


def test_detections_are_float32_and_filtered_by_size(fake_detector: Y.YoloxDetector) -> None:
    fake_detector.min_box_height_px = 1000
    dets = fake_detector.detect([np.zeros((480, 640, 3), np.uint8)])[0]
    assert len(dets) == 0 and dets.xyxy.dtype == np.float32


def test_bad_images_are_refused(fake_detector: Y.YoloxDetector) -> None:
    with pytest.raises(ValueError, match="BGR"):
        fake_detector.detect([np.zeros((4, 4), np.uint8)])


def test_missing_weights_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"nope\.onnx"):
        Y.YoloxDetector(tmp_path / "nope.onnx")


def test_backend_choice() -> None:
    auto = DetectorConfig()
    assert detector_backend(auto, Path("w/yolox_nano.onnx")) == "onnxruntime"
    assert detector_backend(auto, Path("w/yolov8n_int8.tflite")) == "ultralytics"
    assert detector_backend(auto, Path("w/yolov8n.onnx")) == "ultralytics"
    assert detector_backend(DetectorConfig(backend="openvino"), Path("x.onnx")) == "openvino"
