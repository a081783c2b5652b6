"""The shipped ONNX OSNet, rebuilt in PyTorch, gives the same vectors as ONNX Runtime on real crops."""

from __future__ import annotations

import numpy as np
import pytest

from reidcam.config.schema import ReidConfig
from reidcam.eval.finetune_run import NetEmbedder
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.onnx_to_torch import onnx_to_osnet
from reidcam.reid.enroll import read_image

pytest.importorskip("onnx", reason="the conversion reads ONNX files with the onnx package")


def test_converted_osnet_agrees_with_onnxruntime(weights_file, media_dir):
    onnx_path = weights_file("osnet_x0_25_msmt17.onnx")
    crops = [read_image(p) for p in sorted((media_dir / "market1501_2cam" / "query").glob("*.jpg"))]
    bus = read_image(media_dir / "bus.jpg")
    crops += [bus[399:903, 48:244], bus[405:857, 221:344], bus[:300, :300]]
    ort = build_embedder(ReidConfig(model="osnet_x0_25_msmt17", backend="onnxruntime"), onnx_path)
    net = onnx_to_osnet(onnx_path)
    a = ort.embed(crops).vectors
    b = NetEmbedder(net, "converted").embed(crops).vectors
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.999, cos
    raw_ort = ort._infer(np.zeros((1, 3, 256, 128), np.float32))
    raw_net = NetEmbedder(net, "converted")._infer(np.zeros((1, 3, 256, 128), np.float32))
    np.testing.assert_allclose(raw_ort, raw_net, atol=1e-3)
