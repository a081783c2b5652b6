"""What the figures were measured on: CPU, load, memory, library versions."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PACKAGES = ("numpy", "opencv-python", "onnxruntime", "openvino", "torch", "ultralytics", "faiss-cpu")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed: the benchmark clients share the cores of
    the server they measure, and uvloop's loop costs them less per wake-up."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def steal_seconds() -> float | None:
    """CPU seconds the hypervisor gave other guests instead of this machine, since boot (Linux).

    On a shared virtual machine a neighbour's burst shows up here rather than as this guest's
    load, and it moves a throughput figure as much as anything measured.
    """
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine() -> dict[str, object]:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
    }


@dataclass
class Phase:
    """Wall time, this process's CPU use and the machine's load over one bench phase.

    ``cpu_util`` is this process's CPU seconds per wall second (2.0 = both cores of a
    2-core machine); a load average well above the core count means other work competed.
    """

    name: str
    t0: float = field(default_factory=time.monotonic)
    cpu0: float = field(default_factory=lambda: sum(os.times()[:2]))
    load_before: list[float] = field(default_factory=load_average)

    def end(self) -> dict[str, object]:
        wall = max(time.monotonic() - self.t0, 1e-9)
        cpu = sum(os.times()[:2]) - self.cpu0
        return {
            "wall_s": round(wall, 2),
            "cpu_util": round(cpu / wall, 2),
            "load_avg_before": self.load_before,
            "load_avg_after": load_average(),
            "peak_rss_mb": peak_rss_mb(),
        }


def write_report(
    path: Path | None, args: dict[str, object], started_at: float, result: dict[str, Any]
) -> None:
    """A benchmark's figures as JSON with what they were measured on (nothing when ``path`` is None)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"started_at": started_at, "args": {k: str(v) for k, v in args.items()}, "machine": machine()}
    path.write_text(json.dumps({**doc, **result}, indent=2))
