"""ReID runtimes, one file each; ``build_embedder`` picks one for a config.

Importing this package imports no runtime: each backend module is imported only when chosen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypedDict

from reidcam.config.schema import ReidConfig
from reidcam.core.errors import ConfigError
from reidcam.devices import CPU, DeviceError, Placement
from reidcam.reid.backends.base import Embedder
from reidcam.reid.registry import REGISTRY

log = logging.getLogger(__name__)

__all__ = ["Embedder", "backend_for", "build_embedder", "preset_for"]

_BY_SUFFIX = {".onnx": "onnxruntime", ".pth": "torch", ".pt": "torch", ".tar": "torch", ".xml": "openvino"}


def backend_for(cfg: ReidConfig, weights_path: Path, placement: Placement = CPU) -> str:
    """``cfg.backend`` unless 'auto'; then by file extension, then by the registry entry.

    On a GPU whose ONNX Runtime has no CUDA provider, an ONNX model runs on torch instead.

    Raises:
        ConfigError: no backend can be chosen for this file.
    """
    if cfg.backend != "auto":
        return cfg.backend
    backend = _BY_SUFFIX.get(Path(weights_path).suffix.lower())
    spec = REGISTRY.get(cfg.model)
    if backend is None and spec is not None:
        backend = spec.backend
    if backend is None:
        raise ConfigError(
            f"cannot tell the ReID runtime for {weights_path}: use a .onnx, .pth/.pt or .xml file, "
            "or set reid.backend to onnxruntime, torch or openvino"
        )
    return placement.onnx_runtime() if backend == "onnxruntime" else backend


def preset_for(model: str) -> str:
    """Preprocessing preset of a model: the registry's, else guessed from the name.

    torchreid models (``osnet_*``, ``resnet50*``) use 'osnet' (RGB, ImageNet); Open Model Zoo
    ``person-reidentification-*`` use 'omz' (BGR 0-255).

    Raises:
        ConfigError: unknown model whose name tells nothing.
    """
    spec = REGISTRY.get(model)
    if spec is not None and spec.preset:
        return spec.preset
    if model.startswith(("osnet", "resnet")):
        return "osnet"
    if model.startswith("person-reidentification"):
        return "omz"
    known = ", ".join(n for n, s in REGISTRY.items() if s.kind == "reid")
    raise ConfigError(
        f"unknown ReID model {model!r}: its preprocessing is not known; name it after its family "
        f"(osnet_*, resnet50*, person-reidentification-*) or use a registry model: {known}"
    )


def build_embedder(cfg: ReidConfig, weights_path: Path, placement: Placement = CPU) -> Embedder:
    """Load the ReID model of ``cfg`` from a resolved weights file, on ``placement``'s device.

    The vectors are tagged with ``cfg.model`` as ``model_id``; with ``cfg.flip_tta`` each crop
    is embedded with its mirror image (``reid.flip.FlipEmbedder``).

    Raises:
        ConfigError: unknown backend/preset; DependencyError: runtime not installed;
        WeightsError: the file cannot be loaded; DeviceError: the runtime cannot use the device.
    """
    embedder = _load(cfg, weights_path, placement)
    if cfg.flip_tta:
        from reidcam.reid.flip import FlipEmbedder

        return FlipEmbedder(embedder)
    return embedder


class _EmbedderArgs(TypedDict):
    """The constructor arguments every ReID backend takes."""

    preset: str
    model_id: str
    batch_size: int
    threads: int | None


def _load(cfg: ReidConfig, weights_path: Path, placement: Placement) -> Embedder:
    backend = backend_for(cfg, weights_path, placement)
    kwargs: _EmbedderArgs = {
        "preset": preset_for(cfg.model),
        "model_id": cfg.model,
        "batch_size": cfg.batch_size,
        "threads": cfg.threads,
    }
    if backend == "onnxruntime":
        from reidcam.reid.backends.onnxruntime_backend import OnnxEmbedder

        return OnnxEmbedder(weights_path, **kwargs, providers=placement.providers())
    if backend == "torch":
        from reidcam.reid.backends.torch_backend import TorchEmbedder

        return TorchEmbedder(weights_path, **kwargs, device=placement.choice.torch, fp16=placement.fp16)
    if backend == "openvino":
        if placement.choice.is_cuda:
            raise DeviceError("the OpenVINO ReID backend runs on the CPU only: set performance.device to cpu")
        from reidcam.reid.backends.openvino_backend import OpenVinoEmbedder

        return OpenVinoEmbedder(weights_path, **kwargs)
    raise ConfigError(f"unknown ReID backend {backend!r}")
