"""Crop extraction and the quality gate."""

from __future__ import annotations

import numpy as np
import pytest

from reidcam.config.schema import ReidConfig
from reidcam.reid.crop_gate import CropGate, crop_quality, extract_crops, gate_crops, occlusion

W, H = 640, 480


def _image() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = np.arange(W, dtype=np.uint16)[None, :] % 256  # x in blue, y in green
    img[..., 1] = np.arange(H, dtype=np.uint16)[:, None] % 256
    return img


def test_extract_crops_clips_and_aligns() -> None:
    img = _image()
    boxes = np.array(
        [
            [10, 20, 50, 120],  # inside
            [-30, -10, 40, 60],  # partly outside: clipped
            [700, 10, 760, 90],  # fully outside: None
            [100, 100, 100, 200],  # zero width: None
            [10.4, 20.6, 49.5, 119.2],
        ],  # fractional: floor/ceil
        np.float32,
    )
    crops = extract_crops(img, boxes)
    assert len(crops) == 5
    assert crops[0] is not None and crops[0].shape == (100, 40, 3)
    assert crops[0][0, 0, 0] == 10 and crops[0][0, 0, 1] == 20
    assert crops[1] is not None and crops[1].shape == (60, 40, 3)
    assert crops[2] is None and crops[3] is None
    assert crops[4] is not None and crops[4].shape == (100, 40, 3)


def test_extract_crops_copies() -> None:
    img = _image()
    crop = extract_crops(img, np.array([[0, 0, 10, 10]], np.float32))[0]
    assert crop is not None and crop.flags["C_CONTIGUOUS"]
    img[:] = 7
    assert crop[0, 0, 1] == 0


def test_extract_crops_empty() -> None:
    assert extract_crops(_image(), np.zeros((0, 4), np.float32)) == []


def test_quality_reasons() -> None:
    boxes = np.array(
        [
            [100, 100, 160, 300],  # good: 60 x 200
            [300, 100, 320, 140],  # too short (40) and too narrow (20)
            [200, 300, 400, 420],  # wide: aspect 120/200
            [0, 100, 60, 300],  # touches the left border
            [500, 280, 560, 479],
        ],  # touches the bottom border
        np.float32,
    )
    q = crop_quality(boxes, W, H, CropGate.from_config(ReidConfig()))
    assert q.ok.tolist() == [True, False, False, False, False]
    assert q.reasons == ["", "too_short,too_narrow", "aspect", "border", "border"]
    assert q.score.dtype == np.float32 and q.score.shape == (5,)
    assert q.score[0] == pytest.approx(1.0)  # 200 px >= 2 x 64 px, no overlap
    assert np.all((q.score >= 0) & (q.score <= 1))


def test_occlusion_marks_the_person_behind() -> None:
    behind = [100, 100, 160, 280]  # feet at y=280: further from the camera
    front = [120, 120, 190, 330]  # feet at y=330: nearer, covers most of `behind`
    far = [400, 100, 460, 280]
    boxes = np.array([behind, front, far], np.float32)
    ov = occlusion(boxes)
    assert ov[0] > 0.4 and ov[1] == 0.0 and ov[2] == 0.0
    q = crop_quality(boxes, W, H, CropGate())
    assert q.reasons == ["occluded", "", ""]
    assert q.score[0] < q.score[2]


def test_small_overlap_is_fine() -> None:
    boxes = np.array([[100, 100, 160, 300], [150, 100, 210, 310]], np.float32)  # 10 px side by side
    assert crop_quality(boxes, W, H, CropGate()).ok.tolist() == [True, True]


def test_gate_from_config_and_gate_crops() -> None:
    gate = CropGate.from_config(ReidConfig(min_crop_height_px=10, min_crop_width_px=5, min_aspect=0.5))
    assert gate.min_height_px == 10 and gate.max_overlap == 0.4
    boxes = np.array([[300, 100, 320, 140]], np.float32)
    assert gate_crops(boxes, W, H, gate) == [""]


def test_no_boxes() -> None:
    q = crop_quality(np.zeros((0, 4), np.float32), W, H, CropGate())
    assert q.ok.shape == (0,) and q.score.shape == (0,) and q.reasons == []
