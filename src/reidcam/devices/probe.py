"""Ask the installed runtimes what they offer (providers, CUDA devices, versions).

Each runtime is optional here: one that is missing or broken is reported as such, so
``reidcam doctor`` can say what is wrong instead of failing on the first import.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from pathlib import Path
from typing import Any

from reidcam.core.errors import ConfigError
from reidcam.devices.choice import CPU_EP, DeviceChoice, Placement, RuntimeReport, resolve_device

log = logging.getLogger(__name__)

# Distributions, not modules: onnxruntime and onnxruntime-gpu both install ``onnxruntime``, and
# both being installed at once is the usual broken GPU install.
_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "torch",
    "onnx",
    "onnx2torch",
    "ultralytics",
    "openvino",
    "numpy",
    "opencv-python",
    "opencv-python-headless",
)


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except Exception:  # a broken install (bad CUDA libs) raises anything
        return None


def _versions() -> tuple[tuple[str, str], ...]:
    from importlib import metadata

    out = []
    for name in _DISTRIBUTIONS:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def _torch_cuda(torch: Any | None) -> tuple[tuple[str, ...], bool, list[tuple[str, str]]]:
    if torch is None:
        return (), False, []
    build = getattr(torch.version, "cuda", None)
    extra = [("torch.cuda", str(build) if build else "CPU-only build")]
    if not build:
        return (), False, extra
    try:
        names = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        extra.append(("cudnn", str(torch.backends.cudnn.version())))
    except Exception as exc:  # no driver, broken driver
        log.debug("torch CUDA probe failed: %s", exc)
        names = ()
    return names, True, extra


def nvidia_device_nodes(dev: Path = Path("/dev")) -> int:
    """NVIDIA GPUs the OS shows (``/dev/nvidia0``, ``/dev/nvidia1``...; not nvidiactl)."""
    try:
        return sum(1 for p in dev.iterdir() if re.fullmatch(r"nvidia\d+", p.name))
    except OSError:
        return 0


def runtime_report(full: bool = False) -> RuntimeReport:
    """What onnxruntime and torch installed here offer.

    torch is only imported when ``full`` or when the OS shows an NVIDIA GPU (or is not Linux,
    where there are no device nodes to look at): on a CPU-only Linux box ``auto`` costs no torch
    import, so the CPU path starts as fast as before. ``full`` also collects versions.
    """
    ort = _module("onnxruntime")
    providers = tuple(ort.get_available_providers()) if ort is not None else (CPU_EP,)
    nodes = nvidia_device_nodes()
    look = full or nodes > 0 or not sys.platform.startswith("linux")
    names, cuda_build, extra = _torch_cuda(_module("torch") if look else None)
    return RuntimeReport(
        ort_providers=providers,
        torch_cuda_devices=names,
        torch_cuda_build=cuda_build,
        nvidia_devices=nodes,
        versions=_versions() + tuple(extra) if full else (),
    )


def choose_device(requested: str, report: RuntimeReport | None = None) -> DeviceChoice:
    """Resolve ``requested`` against the real runtimes (or ``report``) and log the choice once.

    Raises:
        DeviceError: 'cuda' asked for and no CUDA device is usable.
    """
    choice = resolve_device(requested, report or runtime_report(full=requested.startswith("cuda")))
    log.info("inference device: %s (%s; performance.device=%s)", choice.label, choice.reason, requested)
    return choice


def doctor_lines(report: RuntimeReport) -> list[str]:
    """The lines ``reidcam doctor`` prints: providers, devices, versions and what auto picks."""
    auto = resolve_device("auto", report)
    lines = [f"onnxruntime providers: {', '.join(report.ort_providers)}"]
    devices = report.torch_cuda_devices
    lines.append(
        "torch CUDA devices: " + (", ".join(f"cuda:{i} {n}" for i, n in enumerate(devices)) or "none")
    )
    lines.append(f"NVIDIA device nodes (/dev/nvidiaN): {report.nvidia_devices}")
    lines += [f"{name}: {version}" for name, version in report.versions]
    lines.append(f"device auto resolves to: {auto.label} ({auto.reason})")
    if auto.is_cuda and not report.ort_cuda:
        lines.append("ONNX stages on the GPU run on torch (onnxruntime has no CUDA provider here)")
    return lines


def placement_for(device: str, precision: str = "auto", report: RuntimeReport | None = None) -> Placement:
    """The Placement of ``performance.device`` / ``performance.precision``, logged once.

    ``precision`` 'auto' is fp32 everywhere for now: fp16 moved one YOLOX box (IoU 0.89) on
    torch's CPU kernels, and nobody has yet measured fp16 against fp32 on a GPU
    (``benchmarks/gpu_check.py`` does). 'fp16' opts in, on a GPU only.

    Raises:
        DeviceError: 'cuda' asked for and none usable; ConfigError: fp16 asked for on the CPU.
    """
    report = report or runtime_report(full=device.startswith("cuda"))
    choice = choose_device(device, report)
    if precision == "fp16" and not choice.is_cuda:
        raise ConfigError("performance.precision fp16 needs a CUDA device; the CPU runs fp32")
    fp16 = precision == "fp16"
    placement = Placement(choice, report.ort_providers, fp16)
    if choice.is_cuda:
        log.info("ONNX models on %s run on %s", choice.label, placement.onnx_runtime())
    return placement
