"""Give a fixed-batch ReID ONNX export a dynamic batch axis, checked, at load time.

The ONNX conversion of OMZ person-reidentification-retail-0288 (openvino2onnx) bakes batch 1
into the input and into every ``Reshape`` target (``[1, 16, 1]``, ``[1, 256]``, ...), so ONNX
Runtime runs it one crop at a time. Replacing each leading 1 of a ``Reshape`` target by 0
("copy this dimension from the input", the batch) and freeing the input's batch dimension lets
one call take a whole batch. The patch is only used after a check: a batch of two different
inputs must give the same vectors as two calls of one (otherwise the original file is used).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _reshape_targets(model: Any) -> list[Any]:
    """The tensors (Constant node values or initializers) that are ``Reshape`` shape inputs."""
    wanted = {n.input[1] for n in model.graph.node if n.op_type == "Reshape" and len(n.input) > 1}
    out = [n.attribute[0].t for n in model.graph.node if n.op_type == "Constant" and n.output[0] in wanted]
    out += [init for init in model.graph.initializer if init.name in wanted]
    return out


def patch_batch_dim(model_bytes: bytes) -> bytes | None:
    """The model with a dynamic batch, or None when it already has one, cannot be read or
    patched, or the ``onnx`` package is missing."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    try:
        model = onnx.load_from_string(model_bytes)
        batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    except Exception as exc:  # protobuf's DecodeError, or a graph without an input
        log.info("cannot read the ReID model to free its batch axis (%s)", exc)
        return None
    if not batch.HasField("dim_value") or batch.dim_value != 1:
        return None
    for tensor in _reshape_targets(model):
        arr = numpy_helper.to_array(tensor)
        if arr.dtype == np.int64 and arr.ndim == 1 and len(arr) >= 2 and arr[0] == 1:
            fixed = arr.copy()
            fixed[0] = 0
            tensor.CopyFrom(numpy_helper.from_array(fixed, tensor.name))
    batch.Clear()
    batch.dim_param = "batch"
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        if len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].Clear()
            dims[0].dim_param = "batch"
    return bytes(model.SerializeToString())


def batch_agrees(run_batched: Any, run_single: Any, shape: tuple[int, int, int]) -> bool:
    """True when a batch of two distinct inputs gives the same outputs as two single calls."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (2, *shape)).astype(np.float32)
    try:
        both = np.asarray(run_batched(x)).reshape(2, -1)
    except Exception as exc:  # onnxruntime raises untyped errors on a bad patch
        log.info("patched ReID model does not take a batch (%s): one crop per call", exc)
        return False
    one = np.concatenate([np.asarray(run_single(x[i : i + 1])).reshape(1, -1) for i in range(2)])
    scale = float(np.abs(one).max()) or 1.0
    return bool(np.abs(both - one).max() <= 1e-4 * scale)
