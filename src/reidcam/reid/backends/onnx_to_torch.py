"""ONNX OSNet -> PyTorch: rebuild a torchreid-format OSNet from an ONNX export's weights.

The shipped ReID model is an ONNX export of a torchreid OSNet (boxmot's export). Training
needs it in PyTorch, so the weights are read back with the ``onnx`` package and placed onto
``reid.backends.torch_models.OSNet``:

- the exporter folded each BatchNorm into the convolution before it (a Conv with a bias);
  such a conv gets the folded kernel and its BN becomes the identity plus that bias
  (gamma 1, mean 0, var 1 - eps: ``(x - 0) / sqrt(1 - eps + eps) * 1 + b = x + b``);
- convs without a BN (``LightConv3x3.conv1``, the channel gate's ``fc1``/``fc2``) and the
  final ``fc`` Linear + BatchNorm1d keep their own names and values;
- the module a Conv node belongs to is read from its output name (the exporter writes the
  module path there, ``/conv2/conv2.0/conv1/conv/Conv_output_0`` -> ``conv2.0.conv1.conv``),
  so nothing depends on the order of nodes.

Every state_dict entry must be filled exactly once with the right shape, else ConversionError.
The converted model is then checked against ONNX Runtime on real crops (the caller's job;
``reidcam finetune`` and the models tests require cosine >= 0.999).

Training note: the folded BN layers hold no batch statistics of their own, so they must stay in
eval mode (frozen) while fine-tuning; ``finetune`` does so.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from reidcam.core.errors import DependencyError, ReidcamError

log = logging.getLogger(__name__)

BN_EPS = 1e-5
_CALL_SUFFIX = re.compile(r"_\d+$")


class ConversionError(ReidcamError):
    """The ONNX model does not map onto the OSNet architecture."""


def _import_onnx() -> Any:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise DependencyError("converting an ONNX model needs the onnx package: pip install onnx") from exc
    return onnx, numpy_helper


def module_path(output_name: str) -> str:
    """``/conv2/conv2.0/conv2b/conv2b.0/conv1/Conv_output_0`` -> ``conv2.0.conv2b.0.conv1``.

    Each scope segment repeats its parent's name as a prefix (``conv2`` then ``conv2.0``);
    only the new part is kept.
    """
    segments = [s for s in output_name.split("/") if s][:-1]
    parts: list[str] = []
    prev = ""
    for seg in segments:
        parts.append(seg[len(prev) + 1 :] if prev and seg.startswith(prev + ".") else seg)
        prev = seg
    return ".".join(parts)


def _shared_call(path: str, target: dict[str, Any]) -> str:
    """A module called several times (OSNet's channel gate) is named ``fc1_1``, ``fc1_2``... after
    its first call; map those back to the module's own name."""
    if f"{path}.weight" in target:
        return path
    return ".".join(_CALL_SUFFIX.sub("", seg) for seg in path.split("."))


def _conv_weights(
    model: Any, numpy_helper: Any, target: dict[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """conv module path -> (kernel, bias or None) for every Conv node (shared modules once).

    Raises:
        ConversionError: two calls of one module carry different weights.
    """
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        path = _shared_call(module_path(node.output[0]), target)
        weight = init[node.input[1]]
        bias = init[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        if path in out and not np.array_equal(out[path][0], weight):
            raise ConversionError(f"ONNX convs named {path} carry different weights")
        out[path] = (weight, bias)
    return out


def _named_arrays(model: Any, numpy_helper: Any) -> dict[str, np.ndarray]:
    """Initializers that kept their PyTorch names (``fc.0.weight``, ``conv2.0.gate.fc1.bias``)."""
    return {
        t.name: numpy_helper.to_array(t)
        for t in model.graph.initializer
        if not t.name.startswith(("onnx::", "/"))
    }


def _fill_conv(
    state: dict[str, np.ndarray], target: dict[str, Any], path: str, w: np.ndarray, b: np.ndarray | None
) -> None:
    state[f"{path}.weight"] = w
    if b is None:
        return
    if f"{path}.bias" in target:  # a conv with its own bias (channel gate)
        state[f"{path}.bias"] = b
        return
    bn = path.rsplit(".", 1)[0] + ".bn"
    if f"{bn}.weight" not in target:
        raise ConversionError(f"ONNX conv {path} has a bias but the model has neither {path}.bias nor {bn}")
    state[f"{bn}.weight"] = np.ones_like(b)
    state[f"{bn}.bias"] = b
    state[f"{bn}.running_mean"] = np.zeros_like(b)
    state[f"{bn}.running_var"] = np.full_like(b, 1.0 - BN_EPS)


def onnx_state_dict(onnx_path: Path, target: dict[str, Any]) -> dict[str, np.ndarray]:
    """NumPy state_dict for a model whose ``state_dict()`` is ``target``, from an ONNX OSNet export.

    Raises:
        DependencyError: onnx not installed; ConversionError: keys or shapes do not line up.
    """
    onnx, numpy_helper = _import_onnx()
    model = onnx.load(str(onnx_path))
    state: dict[str, np.ndarray] = {}
    for path, (w, b) in _conv_weights(model, numpy_helper, target).items():
        _fill_conv(state, target, path, w, b)
    for name, arr in _named_arrays(model, numpy_helper).items():
        if name in target and name not in state:
            state[name] = arr
    wanted = {k for k in target if not k.endswith("num_batches_tracked")}
    missing, extra = sorted(wanted - set(state)), sorted(set(state) - wanted)
    if missing or extra:
        raise ConversionError(f"{onnx_path}: no ONNX value for {missing[:5]}, unknown {extra[:5]}")
    for key, arr in state.items():
        if tuple(arr.shape) != tuple(target[key].shape):
            raise ConversionError(f"{key}: ONNX shape {arr.shape} != model shape {tuple(target[key].shape)}")
    return state


def onnx_to_osnet(onnx_path: Path, arch: str = "osnet_x0_25", feature_dim: int = 512) -> Any:
    """A ``torch_models.OSNet`` (eval mode) with the weights of an ONNX OSNet export.

    Raises:
        DependencyError: torch or onnx not installed; ConversionError: the ONNX is not that OSNet.
    """
    import torch

    from reidcam.reid.backends import torch_models

    net = torch_models.build_model(arch, feature_dim)
    target = net.state_dict()
    arrays = onnx_state_dict(Path(onnx_path), target)
    tensors = {k: torch.from_numpy(np.array(v, copy=True)).to(target[k].dtype) for k, v in arrays.items()}
    net.load_state_dict(tensors, strict=False)  # num_batches_tracked keeps its zero
    log.info("converted %s onto %s (%d tensors)", onnx_path, arch, len(tensors))
    return net.eval()
