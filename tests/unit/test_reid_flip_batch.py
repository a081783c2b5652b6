"""Flip test-time augmentation and the batch-axis patch of batch-1 ONNX ReID exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from reidcam.config.schema import ReidConfig
from reidcam.core.types import Embeddings, l2_normalize
from reidcam.reid.backends.onnx_batch import patch_batch_dim
from reidcam.reid.backends.onnxruntime_backend import OnnxEmbedder
from reidcam.reid.flip import FlipEmbedder


class SidedEmbedder:
    """Left half's mean colour, then the right half's: a mirror image gives another vector."""

    model_id = "sided"
    dim = 6

    def __init__(self) -> None:
        self.batches: list[int] = []

    def embed(self, crops):
        self.batches.append(len(crops))
        if not crops:
            return Embeddings.empty(self.dim, self.model_id)
        rows = []
        for c in crops:
            half = c.shape[1] // 2
            rows.append(np.concatenate([c[:, :half].mean((0, 1)), c[:, half:].mean((0, 1))]) + 1.0)
        return Embeddings(l2_normalize(np.stack(rows)), self.model_id)


def _two_tone(left: int, right: int) -> np.ndarray:
    crop = np.zeros((8, 4, 3), np.uint8)
    crop[:, :2] = left
    crop[:, 2:] = right
    return crop


def test_flip_averages_a_crop_and_its_mirror_in_one_batch() -> None:
    inner = SidedEmbedder()
    flip = FlipEmbedder(inner)
    a, b = _two_tone(200, 10), _two_tone(10, 200)
    assert inner.embed([a]).vectors[0] @ inner.embed([b]).vectors[0] < 0.9  # the model sees a side
    out = flip.embed([a, b, _two_tone(50, 50)])
    assert inner.batches[-1] == 6  # crops and mirrors together
    assert out.model_id == "sided" and out.vectors.shape == (3, 6)
    np.testing.assert_allclose(out.vectors[0] @ out.vectors[1], 1.0, atol=1e-6)  # mirror-invariant
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-6)
    assert flip.embed([]).vectors.shape == (0, 6)


def test_flip_tta_config_default_off() -> None:
    assert ReidConfig().flip_tta is False and ReidConfig(flip_tta=True).flip_tta is True


def _batch1_model(path: Path, flatten_first: bool = False) -> Path:
    """[1,3,4,2] -> Reshape [1,24] -> MatMul [24,5] -> [1,5], batch 1 baked in like openvino2onnx."""
    w = np.random.default_rng(0).normal(size=(24, 5)).astype(np.float32)
    nodes, inits = [], [numpy_helper.from_array(w, "w")]
    src = "x"
    if flatten_first:  # flattens across the batch: no leading 1 to free, the patch must be refused
        inits.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
        nodes.append(helper.make_node("Reshape", ["x", "flat"], ["f"]))
        src = "f"
    shape = numpy_helper.from_array(np.array([1, 24]))
    nodes.append(helper.make_node("Constant", [], ["shape"], value=shape))
    nodes.append(helper.make_node("Reshape", [src, "shape"], ["r"]))
    nodes.append(helper.make_node("MatMul", ["r", "w"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _crops(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (10 + i, 6, 3), dtype=np.uint8) for i in range(n)]


def test_batch1_export_gets_a_dynamic_batch_with_the_same_vectors(tmp_path: Path) -> None:
    path = _batch1_model(tmp_path / "b1.onnx")
    patched = onnx.load_from_string(patch_batch_dim(path.read_bytes()))
    assert patched.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    emb = OnnxEmbedder(path, preset="omz", batch_size=8)
    assert emb.fixed_batch is None  # the checked patch was taken
    crops = _crops(5)
    together = emb.embed(crops).vectors
    one_by_one = np.concatenate([emb.embed([c]).vectors for c in crops])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_a_patch_that_would_mix_the_batch_is_refused(tmp_path: Path) -> None:
    path = _batch1_model(tmp_path / "mix.onnx", flatten_first=True)
    emb = OnnxEmbedder(path, preset="omz", batch_size=8)
    assert emb.fixed_batch == 1  # falls back to one crop per call
    crops = _crops(3)
    np.testing.assert_allclose(
        emb.embed(crops).vectors, np.concatenate([emb.embed([c]).vectors for c in crops]), atol=1e-5
    )


def test_dynamic_model_is_left_alone(tmp_path: Path) -> None:
    model = onnx.load(_batch1_model(tmp_path / "d.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    assert patch_batch_dim(model.SerializeToString()) is None


@pytest.mark.parametrize("bad", [b"", b"not a model"])
def test_unreadable_bytes_are_not_patched(bad: bytes) -> None:
    assert patch_batch_dim(bad) is None
