"""Real detector weights on real media, and the tracker on their detections (marked ``models``)."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.config.schema import DetectorConfig, TrackerConfig
from reidcam.core.errors import DependencyError
from reidcam.core.types import Detections, Frame
from reidcam.detect import UltralyticsDetector, build_detector
from reidcam.track import build_tracker

TFLITE = "yolov8n_int8.tflite"
POSE = "yolo11n-pose.pt"
N_VIDEO_FRAMES = 60


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return image


@pytest.fixture(scope="module")
def tflite(weights_file: Callable[[str], Path]) -> UltralyticsDetector:
    cfg = DetectorConfig(confidence=0.35, min_box_height_px=40, min_box_width_px=12)
    detector = build_detector(cfg, weights_file(TFLITE))
    assert isinstance(detector, UltralyticsDetector)
    return detector


@pytest.fixture(scope="module")
def vtest_frames(media_file: Callable[[str], Path]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(media_file("vtest.avi")))
    frames = []
    while len(frames) < N_VIDEO_FRAMES:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == N_VIDEO_FRAMES
    return frames


def _assert_plausible_people(dets: Detections, image: np.ndarray, min_height_px: float) -> None:
    h, w = image.shape[:2]
    heights = dets.xyxy[:, 3] - dets.xyxy[:, 1]
    assert np.all(dets.xyxy >= 0) and np.all(dets.xyxy[:, [0, 2]] <= w) and np.all(dets.xyxy[:, [1, 3]] <= h)
    assert np.all(heights >= min_height_px)


def _assert_zidane_boxes(dets: Detections) -> None:
    """Zidane stands on the right (x 750-1140), Ancelotti leans across the left; both reach the bottom."""
    right = dets.xyxy[np.argmax(dets.xyxy[:, 0])]
    np.testing.assert_allclose(right, [745, 40, 1142, 710], atol=30)
    assert np.all(dets.xyxy[:, 3] > 650)


def test_bus_has_four_people(tflite: UltralyticsDetector, media_file: Callable[[str], Path]) -> None:
    bus = _read(media_file("bus.jpg"))
    dets = tflite.detect([bus])[0]
    assert len(dets) == 4
    _assert_plausible_people(dets, bus, min_height_px=250)
    # three people stand in front of the bus at the bottom half of the 810x1080 photo, one is cut by the edge
    assert np.sum(dets.confidence > 0.8) == 3
    assert np.all(dets.xyxy[:, 3] > 800)
    heights = dets.xyxy[:, 3] - dets.xyxy[:, 1]
    assert np.all(heights > 2 * (dets.xyxy[:, 2] - dets.xyxy[:, 0])), "standing people are tall and narrow"


def test_zidane_has_two_people(tflite: UltralyticsDetector, media_file: Callable[[str], Path]) -> None:
    zidane = _read(media_file("zidane.jpg"))
    dets = tflite.detect([zidane])[0]
    assert len(dets) == 2
    _assert_plausible_people(dets, zidane, min_height_px=400)
    _assert_zidane_boxes(dets)


def test_pose_model_gives_person_boxes(
    weights_file: Callable[[str], Path], media_file: Callable[[str], Path]
) -> None:
    detector = UltralyticsDetector(weights_file(POSE), 0.35, 0.5, 640, 40, 12)
    assert detector.person_class_id == 0
    bus, zidane = _read(media_file("bus.jpg")), _read(media_file("zidane.jpg"))
    on_bus, on_zidane = detector.detect([bus, zidane])
    assert len(on_bus) == 4 and len(on_zidane) == 2
    _assert_plausible_people(on_zidane, zidane, min_height_px=400)
    _assert_zidane_boxes(on_zidane)


def test_fixed_size_export_reports_its_real_input_size(
    weights_file: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    detector = UltralyticsDetector(weights_file(TFLITE), 0.35, 0.5, 480, 40, 12)
    assert detector.effective_imgsz == [640, 640]
    assert "fixed input size" in caplog.text


def test_missing_runtime_is_a_dependency_error(
    weights_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = weights_file(TFLITE)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(DependencyError, match="pip install ai-edge-litert"):
        UltralyticsDetector(path, 0.35, 0.5, 640, 40, 12)


def _track_video(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Run detector + tracker like one camera; return track id -> [(frame index, box)]."""
    tracker = build_tracker(TrackerConfig(kind="bytetrack", frame_rate=10))
    history: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for start in range(0, len(frames), 8):
        chunk = frames[start : start + 8]
        for offset, (image, dets) in enumerate(zip(chunk, detector.detect(chunk), strict=True)):
            index = start + offset
            tracks = tracker.update(dets, Frame("vtest", index, image, float(index) / 10))
            assert np.all(tracks.detection_index >= 0)
            for track_id, box in zip(tracks.track_id.tolist(), tracks.xyxy, strict=True):
                history[track_id].append((index, box))
    return history


def test_walking_person_keeps_a_stable_id_on_vtest(
    tflite: UltralyticsDetector, vtest_frames: list[np.ndarray]
) -> None:
    history = _track_video(tflite, vtest_frames)
    assert 2 <= len(history) <= 20, f"implausible number of tracks: {len(history)}"
    longest = max(history.values(), key=len)
    indices = [i for i, _ in longest]
    assert len(longest) >= 0.6 * N_VIDEO_FRAMES, f"longest track has only {len(longest)} frames"
    assert len(longest) >= 0.9 * (indices[-1] - indices[0] + 1), "the longest track has big gaps"
    boxes = np.array([box for _, box in longest])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    heights = boxes[:, 3] - boxes[:, 1]
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert steps.max() < 0.3 * heights.mean(), f"box jumps {steps.max():.0f} px between frames"
    assert np.linalg.norm(centres[-1] - centres[0]) > 50, "the tracked person should walk across the view"
