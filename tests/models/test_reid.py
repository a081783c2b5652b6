"""The real ReID weights on real crops: the same person is close, another person is far.

Market-1501 person 0001 seen by camera 1 and camera 6 (the two query crops) against two other
people cut from bus.jpg. Weights are resolved by registry name, so their sha256 is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.config.schema import ReidConfig
from reidcam.reid.backends import build_embedder
from reidcam.reid.registry import REGISTRY
from reidcam.reid.weights import resolve_weights

QUERIES = ("0001_c1s1_001051_00.jpg", "0001_c6s1_009601_00.jpg")
BUS_PEOPLE = ((48, 399, 244, 903), (221, 405, 344, 857))  # xyxy of two men in bus.jpg
# (model, backend, same person at least, other people at most)
MODELS = [
    ("osnet_x0_25_msmt17", "onnxruntime", 0.6, 0.5),
    ("person-reidentification-retail-0288_onnx", "onnxruntime", 0.5, 0.3),
    ("person-reidentification-retail-0288", "openvino", 0.5, 0.3),
]


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, f"unreadable image {path}"
    return img


@pytest.fixture(scope="module")
def crops(media_file: Callable[[str], Path]) -> list[np.ndarray]:
    """[query cam 1, query cam 6, bus man 1, bus man 2], BGR uint8."""
    queries = [_read(media_file(f"market1501_2cam/query/{name}")) for name in QUERIES]
    bus = _read(media_file("bus.jpg"))
    return queries + [bus[y1:y2, x1:x2] for x1, y1, x2, y2 in BUS_PEOPLE]


@pytest.fixture(scope="module")
def resolve(weights_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Registry name -> verified path in the weights folder (verification cache in a temp dir)."""
    cache = tmp_path_factory.mktemp("weights-cache")

    def _resolve(name: str) -> Path:
        if not (weights_dir / REGISTRY[name].filename).exists():
            pytest.skip(f"{REGISTRY[name].filename} is not in {weights_dir}")
        return resolve_weights(name, weights_dir, cache_dir=cache)

    return _resolve


@pytest.mark.parametrize(("model", "backend", "same_min", "other_max"), MODELS)
def test_same_person_close_other_far(
    model: str,
    backend: str,
    same_min: float,
    other_max: float,
    resolve: Callable[[str], Path],
    crops: list[np.ndarray],
) -> None:
    if backend == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is a core dependency: pip install openvino")
    emb = build_embedder(ReidConfig(model=model), resolve(model))
    v = emb.embed(crops).vectors
    assert v.shape == (4, REGISTRY[model].embedding_dim)
    sim = v @ v.T
    same, others = float(sim[0, 1]), sim[:2, 2:]
    assert same > same_min, f"{model}: same person only {same:.3f}"
    assert float(others.max()) < other_max, f"{model}: other people up to {others.max():.3f}"
    assert same > float(others.max()) + 0.2
    threshold = REGISTRY[model].threshold
    assert threshold is not None and float(others.max()) < threshold < same


def test_ir_and_onnx_conversion_agree(resolve: Callable[[str], Path], crops: list[np.ndarray]) -> None:
    pytest.importorskip("openvino", reason="OpenVINO is a core dependency: pip install openvino")
    ir, onnx = "person-reidentification-retail-0288", "person-reidentification-retail-0288_onnx"
    a = build_embedder(ReidConfig(model=ir), resolve(ir)).embed(crops)
    b = build_embedder(ReidConfig(model=onnx), resolve(onnx)).embed(crops)
    assert np.min(np.sum(a.vectors * b.vectors, axis=1)) > 0.999


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_checksums_match_the_verified_files(name: str, resolve: Callable[[str], Path]) -> None:
    """Every registry entry resolves in the verified weights folder (its sha256 is right)."""
    assert resolve(name).is_file()


def test_batch1_onnx_conversion_runs_batched_with_the_same_vectors(
    resolve: Callable[[str], Path], crops: list[np.ndarray]
) -> None:
    """The 0288 ONNX is saved with batch 1; the loader frees its batch axis (one call per chunk)."""
    from reidcam.reid.backends.onnxruntime_backend import OnnxEmbedder

    name = "person-reidentification-retail-0288_onnx"
    emb = build_embedder(ReidConfig(model=name), resolve(name))
    assert isinstance(emb, OnnxEmbedder) and emb.fixed_batch is None
    together = emb.embed(crops).vectors
    alone = np.concatenate([emb.embed([c]).vectors for c in crops])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_flip_tta_keeps_the_default_model_apart(
    resolve: Callable[[str], Path], crops: list[np.ndarray]
) -> None:
    name = ReidConfig().model
    emb = build_embedder(ReidConfig(model=name, flip_tta=True), resolve(name))
    v = emb.embed(crops).vectors
    sim = v @ v.T
    assert emb.model_id == name and float(sim[0, 1]) > float(sim[:2, 2:].max()) + 0.2
