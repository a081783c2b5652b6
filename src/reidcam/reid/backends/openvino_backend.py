"""ReID embedder on OpenVINO (optional dependency, ``pip install reidcam[openvino]``).

Made for the Open Model Zoo IR (``.xml`` with its ``.bin`` beside it), and it also reads
``.onnx``. A model saved with a fixed batch of 1 (OMZ) is reshaped to a dynamic batch so the
whole chunk runs in one call; when reshaping fails it is fed one crop at a time.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError, WeightsError
from reidcam.reid.backends.preprocess import BatchEmbedder, Preset, get_preset

log = logging.getLogger(__name__)


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise DependencyError(
            "OpenVINO is not installed: pip install reidcam[openvino] (or pip install openvino)"
        ) from exc
    return openvino


def _try_dynamic_batch(ov: Any, model: Any) -> bool:
    """Make the batch axis of a 4-D input dynamic; False when the model cannot be reshaped."""
    shape = model.input(0).get_partial_shape()
    if shape[0].is_dynamic:
        return True
    dims = [-1] + [d.get_length() for d in list(shape)[1:]]
    try:
        model.reshape({model.input(0).get_any_name(): ov.PartialShape(dims)})
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses without a stable type
        log.info("OpenVINO model keeps its fixed batch (%s)", exc)
        return False
    return True


def _fit_preset(preset: Preset, shape: Any) -> Preset:
    h, w = shape[2], shape[3]
    if h.is_static and w.is_static and (h.get_length(), w.get_length()) != (preset.height, preset.width):
        return dataclasses.replace(preset, height=h.get_length(), width=w.get_length())
    return preset


class OpenVinoEmbedder(BatchEmbedder):
    """Person crops -> L2-normalised vectors with an OpenVINO model on the CPU.

    Args:
        path: the ``.xml`` (IR, ``.bin`` beside it) or ``.onnx`` file.
        preset: preprocessing preset name ('omz' for Open Model Zoo models: BGR 0-255).
        model_id: tag of the vectors (the registry name); defaults to the file stem.
        batch_size: crops per inference call.
        threads: OpenVINO ``INFERENCE_NUM_THREADS``; None = its default.

    Raises:
        DependencyError: openvino is not installed.
        WeightsError: the model cannot be read or compiled.
    """

    def __init__(
        self,
        path: Path,
        preset: str = "omz",
        model_id: str | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        device: str = "CPU",
    ) -> None:
        ov = _import_openvino()
        self.path = Path(path)
        self.model_id = model_id or self.path.stem
        self.batch_size = int(batch_size)
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as exc:
            raise WeightsError(f"cannot read OpenVINO model {self.path}: {exc}") from exc
        shape = model.input(0).get_partial_shape()
        if shape.rank.get_length() != 4:
            raise WeightsError(f"{self.path}: expected an NCHW image input, got {shape}")
        self.preset = _fit_preset(get_preset(preset), shape)
        self.fixed_batch = None if _try_dynamic_batch(ov, model) else shape[0].get_length()
        # f32 on purpose: on CPUs with bf16 units OpenVINO would otherwise run in bf16, moving the
        # embeddings (and so every calibrated threshold) by up to ~1e-3 from the model's own numbers.
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self.compiled = core.compile_model(model, device, config)
        except Exception as exc:
            raise WeightsError(f"cannot compile OpenVINO model {self.path} for {device}: {exc}") from exc
        self._output = self.compiled.output(0)
        self.dim = self._probe_dim()
        log.info(
            "ReID %s on OpenVINO %s: batch %s, dim %d",
            self.model_id,
            device,
            self.fixed_batch or "dynamic",
            self.dim,
        )

    def _probe_dim(self) -> int:
        last = self._output.get_partial_shape()[-1]
        if last.is_static:
            return int(last.get_length())
        dummy = np.zeros((self.fixed_batch or 1, 3, self.preset.height, self.preset.width), np.float32)
        return int(self._infer(dummy).reshape(len(dummy), -1).shape[1])

    def _infer(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self.compiled(batch)[self._output])
