"""GPU figures for ``reidcam bench --device cuda``: memory and utilisation while a run lasts.

Utilisation comes from ``nvidia-smi`` sampled on a thread (the driver's own counter, the figure
a user would look at); memory from torch's allocator (what reidcam's models hold) and from
``nvidia-smi`` (the whole process, ONNX Runtime's arena and the CUDA context included).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

QUERY = [
    "nvidia-smi",
    "--query-gpu=utilization.gpu,memory.used,memory.total,name",
    "--format=csv,noheader,nounits",
]


def smi_sample(index: int = 0) -> dict[str, Any] | None:
    """One nvidia-smi reading of GPU ``index``; None when nvidia-smi is missing or fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(QUERY, capture_output=True, text=True, timeout=5, check=True).stdout
        util, used, total, name = [x.strip() for x in out.strip().splitlines()[index].split(",", 3)]
        return {
            "util_pct": float(util),
            "memory_used_mib": float(used),
            "memory_total_mib": float(total),
            "name": name,
        }
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return None


class GpuSampler:
    """Samples nvidia-smi every ``period_s`` between ``start`` and ``stop``; ``summary`` sums it up."""

    def __init__(self, index: int = 0, period_s: float = 0.25) -> None:
        self.index, self.period_s = index, period_s
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GpuSampler:
        self._reset_torch_peak()
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            sample = smi_sample(self.index)
            if sample is None:
                return
            self.samples.append(sample)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"torch_peak_allocated_mib": self._torch_peak_mib()}
        if self.samples:
            util = np.array([s["util_pct"] for s in self.samples])
            out.update(
                {
                    "name": self.samples[-1]["name"],
                    "util_pct_mean": round(float(util.mean()), 1),
                    "util_pct_p95": round(float(np.percentile(util, 95)), 1),
                    "memory_used_mib_max": max(s["memory_used_mib"] for s in self.samples),
                    "memory_total_mib": self.samples[-1]["memory_total_mib"],
                    "samples": len(self.samples),
                }
            )
        return out

    def _reset_torch_peak(self) -> None:
        torch = _cuda_torch()
        if torch is not None:
            torch.cuda.reset_peak_memory_stats(self.index)

    def _torch_peak_mib(self) -> float | None:
        torch = _cuda_torch()
        if torch is None:
            return None
        return round(int(torch.cuda.max_memory_allocated(self.index)) / 2**20, 1)


def _cuda_torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None
