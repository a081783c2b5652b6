"""ReID embedder on ONNX Runtime (the CPU, or CUDA/TensorRT with onnxruntime-gpu).

Input name, batch and spatial size are read from the session: a model with a dynamic batch
axis (OSNet, ``images`` [batch, 3, 256, 128]) gets whole chunks of ``batch_size`` crops; one
with a fixed batch of 1 (OMZ 0288 ONNX, ``data`` [1, 3, 256, 128]) has its batch axis freed at
load time (``onnx_batch``, checked against single calls); if that fails it is fed one at a time.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError, WeightsError
from reidcam.devices import CPU
from reidcam.reid.backends.onnx_batch import batch_agrees, patch_batch_dim
from reidcam.reid.backends.preprocess import BatchEmbedder, Preset, get_preset

log = logging.getLogger(__name__)


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise DependencyError(
            "the onnxruntime ReID backend needs onnxruntime: pip install onnxruntime"
        ) from exc
    return onnxruntime


def _fit_preset(preset: Preset, shape: list[Any]) -> Preset:
    """Use the model's own H, W when it fixes them (a model knows its input size best)."""
    h, w = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    if isinstance(h, int) and isinstance(w, int) and (h, w) != (preset.height, preset.width):
        log.info(
            "model input is %dx%d, not the preset's %dx%d: using the model's",
            h,
            w,
            preset.height,
            preset.width,
        )
        return dataclasses.replace(preset, height=h, width=w)
    return preset


class OnnxEmbedder(BatchEmbedder):
    """Person crops -> L2-normalised vectors with an ONNX model.

    Args:
        path: the ``.onnx`` file.
        preset: preprocessing preset name ('osnet': RGB ImageNet; 'omz': BGR 0-255).
        model_id: tag of the vectors (the registry name); defaults to the file stem.
        batch_size: crops per inference call for dynamic-batch models.
        threads: ONNX Runtime intra-op threads; None = its default (all cores).
        providers: ONNX Runtime providers (``Placement.providers()``); None = the CPU.

    Raises:
        DependencyError: onnxruntime is not installed.
        WeightsError: the file cannot be loaded or does not take one NCHW image input.
    """

    def __init__(
        self,
        path: Path,
        preset: str = "osnet",
        model_id: str | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        providers: list[Any] | None = None,
    ) -> None:
        ort = _import_ort()
        self.path = Path(path)
        self.model_id = model_id or self.path.stem
        self.batch_size = int(batch_size)
        self._providers = providers or CPU.providers()
        self.session = self._open(ort, threads, str(self.path))
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4:
            raise WeightsError(f"{self.path}: expected an NCHW image input, got {inp.name} {inp.shape}")
        self.input_name = inp.name
        batch_dim = inp.shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        if self.fixed_batch == 1:
            self._free_batch(ort, threads, tuple(inp.shape[1:]))
        self.preset = _fit_preset(get_preset(preset), list(inp.shape))
        self.dim = self._probe_dim()
        log.info(
            "ReID %s on onnxruntime: input %s %s, batch %s, dim %d",
            self.model_id,
            inp.name,
            inp.shape,
            self.fixed_batch or "dynamic",
            self.dim,
        )

    def _free_batch(self, ort: Any, threads: int | None, shape: tuple[int, int, int]) -> None:
        """Swap in a dynamic-batch copy of a batch-1 model when it gives the same vectors."""
        patched = patch_batch_dim(self.path.read_bytes())
        if patched is None:
            return
        session = self._open(ort, threads, patched)

        def batched(x: NDArray[np.float32]) -> Any:
            return session.run(None, {self.input_name: x})[0]

        if batch_agrees(batched, self._infer, shape):
            self.session, self.fixed_batch = session, None

    def _open(self, ort: Any, threads: int | None, model: str | bytes) -> Any:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # the OSNet export makes ORT warn about unused initializers
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        try:
            return ort.InferenceSession(model, sess_options=opts, providers=self._providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise WeightsError(f"cannot load ONNX ReID model {self.path}: {exc}") from exc

    def _probe_dim(self) -> int:
        out_shape = self.session.get_outputs()[0].shape
        if out_shape and isinstance(out_shape[-1], int):
            return int(out_shape[-1])
        dummy = np.zeros((self.fixed_batch or 1, 3, self.preset.height, self.preset.width), np.float32)
        return int(self._infer(dummy).reshape(len(dummy), -1).shape[1])

    def _infer(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)
