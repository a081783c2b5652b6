"""ReID embedder on PyTorch for torchreid-format checkpoints (OSNet, ResNet50 ``.pth``).

An ONNX OSNet export (the shipped ``osnet_x0_25_msmt17.onnx``) is rebuilt in PyTorch by
``reid.backends.onnx_to_torch.onnx_to_osnet``: that is how the ONNX model reaches a GPU when ONNX Runtime is
the CPU wheel. ``fp16`` runs weights and activations in half precision (GPU only).

The checkpoint may be a bare state_dict or ``{"state_dict": ...}`` (torchreid's
``save_checkpoint``); ``module.`` prefixes (DataParallel) are stripped and the identity
``classifier`` is dropped, since only the feature vector is used. It is loaded with
``torch.load(weights_only=True)``: no arbitrary code runs from a weights file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError, ReidcamError, WeightsError
from reidcam.reid.backends.preprocess import BatchEmbedder, get_preset

log = logging.getLogger(__name__)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise DependencyError("the torch ReID backend needs PyTorch: pip install torch torchvision") from exc
    return torch


def _torch_load(torch: Any, path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers (plus NumPy scalars torchreid stores)."""
    scalar = (getattr(np, "_core", None) or np.core).multiarray.scalar  # np._core only from NumPy 2
    # NumPy 1 pickles name it numpy.core.multiarray.scalar (module renamed in NumPy 2).
    safe = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.float32))]
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors have no common type
        raise WeightsError(
            f"cannot load torch checkpoint {path}: {exc}; it must hold a state_dict "
            "(re-save it with torch.save(model.state_dict(), path))"
        ) from exc


def clean_state_dict(checkpoint: Any) -> dict[str, Any]:
    """The model weights of a torchreid checkpoint: unwrap, strip ``module.``, drop ``classifier.*``.

    Raises:
        WeightsError: the checkpoint holds no state_dict.
    """
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise WeightsError(
            "checkpoint holds no state_dict (expected a dict of tensors or {'state_dict': ...})"
        )
    out = {}
    for key, value in state.items():
        name = key[len("module.") :] if key.startswith("module.") else key
        if not name.startswith("classifier."):
            out[name] = value
    return out


class TorchEmbedder(BatchEmbedder):
    """Person crops -> L2-normalised vectors with a torchreid-format PyTorch checkpoint.

    Args:
        path: ``.pth``/``.pt``/``.pth.tar`` checkpoint.
        preset: preprocessing preset name (torchreid models: 'osnet' = RGB ImageNet 256x128).
        model_id: tag of the vectors; defaults to the file stem.
        batch_size: crops per forward pass.
        threads: ``torch.set_num_threads`` (process-wide!) when given.
        arch: architecture name (``torch_models.ARCHITECTURES``); None = inferred from the keys.
        device: torch device string.
        fp16: half-precision weights and inputs (output returned as float32).

    Raises:
        DependencyError: torch is not installed.
        WeightsError: unreadable checkpoint, unknown architecture or keys that do not match it.
    """

    def __init__(
        self,
        path: Path,
        preset: str = "osnet",
        model_id: str | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        arch: str | None = None,
        device: str = "cpu",
        fp16: bool = False,
    ) -> None:
        torch = _import_torch()
        from reidcam.reid.backends import torch_models

        self._torch = torch
        self.path = Path(path)
        self.model_id = model_id or self.path.stem.split(".")[0]
        self.batch_size = int(batch_size)
        self.preset = get_preset(preset)
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 else torch.float32
        if threads is not None:
            torch.set_num_threads(int(threads))
        if self.path.suffix.lower() == ".onnx":
            self.model, self.arch = self._from_onnx(arch)
        else:
            state = clean_state_dict(_torch_load(torch, self.path))
            self.model, self.arch = self._build(torch_models, state, arch)
        self.model = self.model.to(self.dtype)
        self.dim = int(self.model.feature_dim)
        log.info(
            "ReID %s on torch (%s, %s, %s): dim %d",
            self.model_id,
            self.arch,
            self.device,
            self.dtype,
            self.dim,
        )

    def _from_onnx(self, arch: str | None) -> tuple[Any, str]:
        from reidcam.reid.backends.onnx_to_torch import onnx_to_osnet
        from reidcam.reid.backends.torch_models import OSNET_CHANNELS

        known = [a for a in OSNET_CHANNELS if self.model_id.startswith(a)]
        name = arch or max(known, key=len, default="osnet_x0_25")
        try:
            return onnx_to_osnet(self.path, name).to(self.device).eval(), name
        except ReidcamError as exc:
            raise WeightsError(f"{self.path}: cannot run this ONNX model on torch: {exc}") from exc

    def _build(self, torch_models: Any, state: dict[str, Any], arch: str | None) -> tuple[Any, str]:
        try:
            guessed, feature_dim = torch_models.infer_arch(state)
            model = torch_models.build_model(arch or guessed, feature_dim)
            model.load_state_dict(state, strict=True)
        except (ValueError, RuntimeError) as exc:
            raise WeightsError(f"{self.path}: not a supported torchreid checkpoint: {exc}") from exc
        return model.to(self.device).eval(), arch or guessed

    def _infer(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, self.dtype, non_blocking=True)
            out = self.model(x)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)
