"""``auto | cpu | cuda | cuda:N`` -> one DeviceChoice, from what the installed runtimes report.

Why one function: ONNX Runtime (providers), torch (``cuda:N``) and Ultralytics (``"0"``) each
spell the device their own way; resolving once and deriving every spelling from the result
means the detector and the embedder can never disagree about where they run. An explicit
``cuda`` without a CUDA device is an error, never a silent CPU run: a user who asked for the
GPU and gets the CPU sees a 20x slower product and no reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from reidcam.core.errors import ConfigError

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"
CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
TRT_EP = "TensorrtExecutionProvider"


class DeviceError(ConfigError):
    """The requested device is not there (the CLI exits with code 2)."""


@dataclass(frozen=True)
class RuntimeReport:
    """What the installed runtimes offer; ``probe.runtime_report()`` fills it from the real ones.

    ``torch_cuda_devices``: names of the CUDA devices torch sees (empty: CPU build, no GPU, or
    torch not asked). ``nvidia_devices``: NVIDIA device nodes of the OS (``/dev/nvidiaN``).
    ``ort_providers``: ``onnxruntime.get_available_providers()``; onnxruntime-gpu lists CUDA
    even on a machine without a GPU, so its word alone never counts as a GPU.
    """

    ort_providers: tuple[str, ...] = (CPU_EP,)
    torch_cuda_devices: tuple[str, ...] = ()
    torch_cuda_build: bool = False
    nvidia_devices: int = 0
    versions: tuple[tuple[str, str], ...] = ()

    @property
    def ort_cuda(self) -> bool:
        return CUDA_EP in self.ort_providers

    @property
    def cuda_count(self) -> int:
        """GPUs some installed runtime can use: torch's, else (onnxruntime-gpu) the OS's NVIDIA nodes."""
        if self.torch_cuda_devices:
            return len(self.torch_cuda_devices)
        return self.nvidia_devices if self.ort_cuda else 0


@dataclass(frozen=True)
class DeviceChoice:
    """The resolved device: ``kind`` 'cpu' or 'cuda', ``index`` of the GPU, and why."""

    requested: str
    kind: Literal["cpu", "cuda"]
    index: int = 0
    reason: str = ""

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def torch(self) -> str:
        """The torch device string: 'cpu' or 'cuda:N'."""
        return f"cuda:{self.index}" if self.is_cuda else "cpu"

    @property
    def ultralytics(self) -> str:
        """Ultralytics' device string: 'cpu' or the GPU index."""
        return str(self.index) if self.is_cuda else "cpu"

    @property
    def label(self) -> str:
        """Short text for logs, the status API and the page: 'cpu' or 'cuda:0'."""
        return self.torch


def parse_device(text: str) -> tuple[str, int | None]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> (kind, index or None).

    Raises:
        ConfigError: anything else.
    """
    value = str(text).strip().lower()
    if not re.match(DEVICE_PATTERN, value):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N (N a GPU index), got {text!r}")
    kind, _, index = value.partition(":")
    return kind, int(index) if index else None


def _missing_cuda(requested: str, report: RuntimeReport) -> str:
    torch_says = (
        "torch is a CPU-only build"
        if not report.torch_cuda_build
        else f"torch sees {len(report.torch_cuda_devices)} CUDA device(s)"
    )
    return (
        f"device {requested!r} asked for, but no CUDA device is usable here: {torch_says}, "
        f"the OS shows {report.nvidia_devices} NVIDIA device(s), "
        f"onnxruntime offers {', '.join(report.ort_providers) or 'nothing'}. Check `nvidia-smi` and "
        "`reidcam doctor`; install the gpu extra (docs/performance.md, GPU), or use device auto or cpu"
    )


def resolve_device(requested: str, report: RuntimeReport) -> DeviceChoice:
    """Resolve ``requested`` against ``report``.

    'auto' -> the first CUDA device when one is usable, else the CPU. 'cuda'/'cuda:N' -> that
    GPU, or DeviceError when it is not there.

    Raises:
        ConfigError: an unparsable value; DeviceError: the GPU asked for is not there.
    """
    kind, index = parse_device(requested)
    count = report.cuda_count
    if kind == "cpu":
        return DeviceChoice(requested, "cpu", reason="asked for")
    if kind == "auto":
        if count:
            return DeviceChoice(requested, "cuda", 0, reason=f"auto: {count} CUDA device(s) found")
        return DeviceChoice(requested, "cpu", reason="auto: no CUDA device found")
    if count == 0:
        raise DeviceError(_missing_cuda(requested, report))
    idx = index or 0
    if idx >= count:
        raise DeviceError(
            f"device {requested!r} asked for, but only {count} CUDA device(s) are here (0-{count - 1})"
        )
    return DeviceChoice(requested, "cuda", idx, reason="asked for")


def ort_providers(
    choice: DeviceChoice, available: tuple[str, ...] | list[str], fp16: bool = False
) -> list[Any]:
    """ONNX Runtime ``providers=`` for ``choice``: the CPU alone, or TensorRT/CUDA then the CPU.

    TensorRT comes first when offered (ONNX Runtime falls back to the next provider for the
    nodes it cannot take); ``fp16`` lets TensorRT build fp16 engines.

    Raises:
        DeviceError: a CUDA choice but this onnxruntime has no CUDA provider (the CPU wheel).
    """
    if not choice.is_cuda:
        return [CPU_EP]
    if CUDA_EP not in available:
        raise DeviceError(
            f"device {choice.label} asked for, but this onnxruntime offers {', '.join(available)}: "
            "install onnxruntime-gpu (docs/performance.md, GPU) or run this stage on torch"
        )
    device = {"device_id": choice.index}
    chain: list[Any] = []
    if TRT_EP in available:
        chain.append((TRT_EP, {**device, "trt_fp16_enable": fp16}))
    chain += [(CUDA_EP, device), CPU_EP]
    return chain


@dataclass(frozen=True)
class Placement:
    """Where and how every model runs: the device, what ONNX Runtime offers, and fp16 or not.

    Built once per process (``probe.placement_for``) and handed to the detector and embedder
    builders, so both stages see the same choice.
    """

    choice: DeviceChoice
    ort_available: tuple[str, ...] = (CPU_EP,)
    fp16: bool = False

    def onnx_runtime(self) -> str:
        """Runtime for an ONNX model: ONNX Runtime, unless on a GPU its wheel has no CUDA (then torch)."""
        if self.choice.is_cuda and CUDA_EP not in self.ort_available:
            return "torch"
        return "onnxruntime"

    def providers(self) -> list[Any]:
        """ONNX Runtime providers for this placement (see ``ort_providers``)."""
        return ort_providers(self.choice, self.ort_available, self.fp16)

    @property
    def label(self) -> str:
        """'cpu', or 'cuda:0 fp16' style text for the status API and the page."""
        return f"{self.choice.label} {'fp16' if self.fp16 else 'fp32'}" if self.choice.is_cuda else "cpu"


CPU = Placement(DeviceChoice("cpu", "cpu", reason="default"))
