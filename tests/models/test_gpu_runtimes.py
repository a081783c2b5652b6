"""The runtimes of the GPU path (torch: YOLOX through onnx2torch, OSNet rebuilt from ONNX), run on the
CPU so CI checks them: same boxes and same vectors as the ONNX Runtime CPU path on real media.

The same comparisons on a CUDA device, fp32 and fp16, are ``benchmarks/gpu_check.py``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reidcam.config.schema import DetectorConfig, ReidConfig
from reidcam.core.geometry import iou_matrix
from reidcam.detect import build_detector
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.torch_backend import TorchEmbedder
from reidcam.reid.enroll import read_image


@pytest.fixture(autouse=True)
def _onnx2torch() -> None:
    """Imported when a test here runs, not when pytest collects the suite: importing onnx2torch
    (torchvision with it) at collection was followed by an OpenCV segfault in a capture thread of
    tests/web/test_web_bad_source.py in 2 of 3 runs here, and in none of 4 runs without it."""
    pytest.importorskip("onnx2torch", reason="the torch detector runtime needs it: pip install onnx2torch")


# onnx2torch's Slice indexes with a list (torch warns; the results are compared below).
pytestmark = pytest.mark.filterwarnings("ignore:Using a non-tuple sequence:UserWarning")


def test_torch_yolox_finds_the_same_people_as_onnxruntime_in_one_batch(weights_file, media_dir):
    weights = weights_file("yolox_nano.onnx")
    frames = [read_image(p) for p in sorted((media_dir / "market1501_2cam" / "frames").glob("*.jpg"))[:4]]
    frames.append(read_image(media_dir / "bus.jpg"))
    cpu = build_detector(DetectorConfig(backend="onnxruntime", imgsz=640), weights, threads=1)
    tch = build_detector(DetectorConfig(backend="torch", imgsz=640), weights, threads=1)
    assert getattr(tch, "runtime", None) == "torch" and tch.session.dynamic
    total = 0
    for a, b in zip(cpu.detect(frames), tch.detect(frames), strict=True):  # the 4 Market frames: 1 batch
        assert len(a) == len(b)
        if len(a):
            assert iou_matrix(a.xyxy, b.xyxy).max(axis=1).min() >= 0.99
            np.testing.assert_allclose(np.sort(a.confidence), np.sort(b.confidence), atol=1e-3)
        total += len(a)
    assert total >= 8  # the frames do hold people: the comparison compared something


def test_torch_embedder_from_the_onnx_file_gives_onnxruntime_vectors(weights_file, media_dir):
    onnx_path = weights_file("osnet_x0_25_msmt17.onnx")
    crops = [read_image(p) for p in sorted((media_dir / "market1501_2cam" / "query").glob("*.jpg"))]
    bus = read_image(media_dir / "bus.jpg")
    crops += [bus[399:903, 48:244], bus[405:857, 221:344]]
    ort = build_embedder(ReidConfig(model="osnet_x0_25_msmt17", backend="onnxruntime"), onnx_path)
    tch = build_embedder(ReidConfig(model="osnet_x0_25_msmt17", backend="torch"), onnx_path)
    assert isinstance(tch, TorchEmbedder) and tch.arch == "osnet_x0_25" and tch.model_id == ort.model_id
    cos = np.sum(ort.embed(crops).vectors * tch.embed(crops).vectors, axis=1)
    assert cos.min() >= 0.999, cos


def test_one_batch_puts_every_camera_in_one_call_with_the_same_people(weights_file, media_dir):
    """The GPU batching rule (one call for frames of different shapes, padded) on ONNX Runtime."""
    from reidcam.detect.yolox import YoloxDetector

    weights = weights_file("yolox_nano.onnx")
    frames = []
    for name in ("vtest.avi", "people-detection.264"):
        cap = cv2.VideoCapture(str(media_dir / name))
        for _ in range(30):
            ok, image = cap.read()
        cap.release()
        assert ok
        frames.append(image)
    frames.append(read_image(sorted((media_dir / "market1501_2cam" / "frames").glob("*.jpg"))[0]))
    sizes = [416, 416, 640]
    per_shape = YoloxDetector(weights, "onnxruntime", threads=1, one_batch=False)
    one = YoloxDetector(weights, "onnxruntime", threads=1, one_batch=True)
    assert one.one_batch and not per_shape.one_batch
    calls = []
    run = one.session.run
    one.session.run = lambda batch: calls.append(batch.shape) or run(batch)  # type: ignore[method-assign]
    got = one.detect_sized(frames, sizes)
    assert calls == [(3, 3, 384, 640)]  # three shapes, one call at the largest
    total = 0
    for a, b in zip(per_shape.detect_sized(frames, sizes), got, strict=True):
        assert len(a) == len(b)
        if len(a):
            assert iou_matrix(a.xyxy, b.xyxy).max(axis=1).min() >= 0.9
        total += len(a)
    assert total >= 5
