"""torchreid ``.pth`` -> ONNX (dynamic batch, input ``images``) -> OpenVINO IR, with agreement checks."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from reidcam.core.errors import DependencyError, ReidcamError
from reidcam.reid.backends.base import Embedder

log = logging.getLogger(__name__)

MIN_COSINE = 0.999


class ExportError(ReidcamError):
    """A converted model disagrees with its source, or cannot be written."""


def check_crops(n: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Person-shaped BGR crops for the agreement check: smooth random blobs, not flat noise."""
    import cv2

    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        h = int(rng.integers(96, 320))
        small = rng.integers(0, 255, (8, 4, 3), dtype=np.uint8)
        crops.append(cv2.resize(small, (max(32, h // 2), h), interpolation=cv2.INTER_CUBIC))
    return crops


def agreement(reference: Embedder, converted: Embedder, crops: list[np.ndarray]) -> float:
    """Smallest cosine similarity between the two models' vectors for the same crops."""
    a, b = reference.embed(crops).vectors, converted.embed(crops).vectors
    return float(np.min(np.sum(a * b, axis=1)))


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _check(reference: Embedder, converted: Embedder, crops: list[np.ndarray], files: list[Path]) -> float:
    cos = agreement(reference, converted, crops)
    if cos < MIN_COSINE:
        _remove(files)
        raise ExportError(f"{files[0].name} disagrees with the source: min cosine {cos:.5f} < {MIN_COSINE}")
    return cos


def _to_onnx(model: Any, out: Path, height: int, width: int) -> None:
    import torch

    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
    except ImportError as exc:
        raise DependencyError("exporting to ONNX needs the onnx package: pip install onnx") from exc
    dummy = torch.zeros(1, 3, height, width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(
            model,
            (dummy,),
            str(out),
            input_names=["images"],
            output_names=["features"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _to_openvino(onnx_path: Path, out_xml: Path) -> None:
    try:
        import openvino as ov
    except ImportError as exc:
        raise DependencyError("exporting to OpenVINO needs openvino: pip install openvino") from exc
    ov.save_model(ov.convert_model(str(onnx_path)), str(out_xml), compress_to_fp16=False)


def export_reid(
    weights: Path, out_dir: Path, formats: list[str], model_id: str | None = None, preset: str = "osnet"
) -> dict[str, object]:
    """Export a torchreid checkpoint; returns the written files and their agreement with torch.

    Raises:
        WeightsError: not a supported checkpoint; DependencyError: onnx/openvino missing;
        ExportError: a converted model disagrees (its files are removed).
    """
    from reidcam.reid.backends.onnxruntime_backend import OnnxEmbedder
    from reidcam.reid.backends.torch_backend import TorchEmbedder

    source = TorchEmbedder(Path(weights), preset=preset, model_id=model_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(weights).name.split(".")[0]
    onnx_path = out_dir / f"{stem}.onnx"
    crops = check_crops()
    _to_onnx(source.model, onnx_path, source.preset.height, source.preset.width)
    report: dict[str, object] = {"source": str(weights), "arch": source.arch, "dim": source.dim}
    onnx_cos = _check(source, OnnxEmbedder(onnx_path, preset, source.model_id), crops, [onnx_path])
    report["onnx"] = {"path": str(onnx_path), "min_cosine_vs_torch": round(onnx_cos, 6)}
    if "openvino" in formats:
        from reidcam.reid.backends.openvino_backend import OpenVinoEmbedder

        xml = out_dir / f"{stem}.xml"
        _to_openvino(onnx_path, xml)
        cos = _check(
            source, OpenVinoEmbedder(xml, preset, source.model_id), crops, [xml, xml.with_suffix(".bin")]
        )
        report["openvino"] = {"path": str(xml), "min_cosine_vs_torch": round(cos, 6)}
    if "onnx" not in formats:
        _remove([onnx_path])
        report.pop("onnx")
    return report
