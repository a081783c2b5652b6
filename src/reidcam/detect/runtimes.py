"""Raw ONNX Runtime / OpenVINO sessions for detectors that do their own pre/post-processing.

Why not Ultralytics here: its predictor gives LiteRT one thread, copies every frame through
torch tensors and runs a fixed 640 px batch of one; a bare session on a small input is 5-10x
faster on a 2-core CPU. Both runtimes take one (B, 3, H, W) float32 array and return the
first output. Thread counts are set explicitly: the pipeline runs detector and embedder one
after the other in one worker, so each may use every core, but none may spin-wait on them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError, WeightsError
from reidcam.devices import CPU, DeviceError, Placement

log = logging.getLogger(__name__)

RUNTIMES = ("onnxruntime", "openvino", "torch")


class Session(Protocol):
    """One loaded network: (B, 3, H, W) float32 in, the first output out."""

    runtime: str
    dynamic: bool

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]: ...


def make_dynamic(model_bytes: bytes) -> bytes | None:
    """Make batch, height and width of a YOLOX ONNX export dynamic.

    YOLOX exports reshape the head output with a constant ``[1, 85, -1]``: batch 1 is baked
    in, the spatial size is not. Replacing the 1 by 0 ("copy this dim") and freeing the
    input dims lets one session take any batch and any multiple-of-32 input size, so each
    camera gets an input size that fits its frame instead of a padded 416x416 square.

    Returns:
        The patched model, or None when the ``onnx`` package is not installed.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load_from_string(model_bytes)
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.int64 and arr.ndim == 1 and len(arr) == 3 and arr[0] == 1 and arr[2] == -1:
            init.CopyFrom(numpy_helper.from_array(np.array([0, arr[1], -1], np.int64), init.name))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i, name in ((0, "batch"), (2, "height"), (3, "width")):
        dims[i].Clear()
        dims[i].dim_param = name
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    return bytes(model.SerializeToString())


class OrtSession:
    """ONNX Runtime session, no spin-waiting (it would steal the decode threads' core).

    ``providers``: from ``Placement.providers()`` (the CPU alone unless on a GPU).
    ``run`` may be called from several threads at once (ONNX Runtime sessions are thread-safe).
    """

    runtime = "onnxruntime"

    def __init__(
        self, model: bytes, dynamic: bool, threads: int | None, providers: list[Any] | None = None
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise DependencyError("this detector needs onnxruntime: pip install onnxruntime") from exc
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.inter_op_num_threads = 1
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                model, sess_options=opts, providers=providers or CPU.providers()
            )
        except Exception as exc:  # onnxruntime raises untyped errors
            raise WeightsError(f"cannot load the detector model in onnxruntime: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self.dynamic = dynamic

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self._session.run(None, {self._input: batch})[0])


class OvSession:
    """OpenVINO CPU session; one static-shape compiled model per input shape (dynamic is slower)."""

    runtime = "openvino"

    def __init__(self, model: bytes, dynamic: bool, threads: int | None) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise DependencyError("this detector needs OpenVINO: pip install openvino") from exc
        self._core = ov.Core()
        self._model = self._read(model)
        # f32: the default bf16 on CPUs with bf16 units would move boxes away from the ONNX Runtime path.
        self._config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        if threads is not None:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.dynamic = dynamic

    def _read(self, model: bytes) -> Any:
        # OpenVINO reads ONNX from a path only; the (patched) bytes go through a temporary file.
        fd, name = tempfile.mkstemp(suffix=".onnx")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(model)
            return self._core.read_model(name)
        except Exception as exc:
            raise WeightsError(f"cannot read the detector model in OpenVINO: {exc}") from exc
        finally:
            Path(name).unlink(missing_ok=True)

    def _compiled_for(self, shape: tuple[int, ...]) -> Any:
        compiled = self._compiled.get(shape)
        if compiled is None:
            model = self._model.clone()
            model.reshape({model.input(0).get_any_name(): list(shape)})
            compiled = self._core.compile_model(model, "CPU", self._config)
            self._compiled[shape] = compiled
            log.debug("OpenVINO detector compiled for input %s", shape)
        return compiled

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        shape = tuple(batch.shape)
        with self._lock:  # compile once per shape, and one infer request per thread and shape
            compiled = self._compiled_for(shape)
            requests = self._local.__dict__.setdefault("requests", {})
            request = requests.get(shape)
            if request is None:
                request = requests[shape] = compiled.create_infer_request()
        request.infer({0: batch})
        return np.asarray(request.get_output_tensor(0).data).copy()


class TorchSession:
    """The ONNX model converted to PyTorch (onnx2torch) on a torch device, fp16 when asked.

    Why: on a GPU machine whose ONNX Runtime is the CPU wheel, torch (a core dependency, CUDA
    build) still reaches the GPU. The frames of all cameras arrive as one batch; the output
    comes back as float32 whatever the precision.
    """

    runtime = "torch"

    def __init__(self, model: bytes, dynamic: bool, device: str, fp16: bool = False) -> None:
        try:
            import onnx
            import torch
            from onnx2torch import convert
        except ImportError as exc:
            raise DependencyError(
                "the torch detector runtime needs torch, onnx and onnx2torch: pip install 'reidcam[gpu]'"
            ) from exc
        try:
            net = convert(onnx.load_from_string(model)).eval()
        except Exception as exc:  # onnx2torch raises NotImplementedError, KeyError, ...
            raise WeightsError(f"cannot convert the detector model to torch: {exc}") from exc
        self._torch = torch
        self._device = torch.device(device)
        self._dtype = torch.float16 if fp16 else torch.float32
        self._net = net.to(self._device, self._dtype)
        self.dynamic = dynamic

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self._device, self._dtype, non_blocking=True)
            out = self._net(x)
            out = out[0] if isinstance(out, list | tuple) else out
            return np.asarray(out.float().cpu().numpy())


def default_runtime() -> str:
    """ONNX Runtime: a core dependency, and on 2 cores with one intra-op thread per runtime
    (the pipelined runner) it ran YOLOX-nano 416x320 in 25-29 ms where OpenVINO took 32-38 ms
    on the same busy machine, and the whole pipeline was as fast or faster. OpenVINO won
    with two threads on an idle machine (6.5 vs 8 ms at 416x416): pick it with
    ``detector.backend: openvino`` for the sequential runner."""
    return "onnxruntime"


def open_session(path: Path, runtime: str, threads: int | None, placement: Placement = CPU) -> Session:
    """Load ``path`` (ONNX) in ``runtime`` on ``placement``, with dynamic batch/size when it can be patched.

    Raises:
        WeightsError: unreadable file; DependencyError: runtime not installed;
        DeviceError: OpenVINO asked to run on a CUDA device.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise WeightsError(f"cannot read detector weights {path}: {exc}") from exc
    patched = make_dynamic(raw)
    if patched is None:
        log.warning("the 'onnx' package is missing: %s runs at its fixed export size", path.name)
    model, dynamic = (raw, False) if patched is None else (patched, True)
    if runtime == "onnxruntime":
        return OrtSession(model, dynamic, threads, placement.providers())
    if runtime == "torch":
        return TorchSession(model, dynamic, placement.choice.torch, placement.fp16)
    if runtime == "openvino":
        if placement.choice.is_cuda:
            raise DeviceError("the OpenVINO detector runs on the CPU only: set performance.device to cpu")
        return OvSession(model, dynamic, threads)
    raise ValueError(f"unknown detector runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
