"""Thread settings of every runtime, decided once, in one place.

On a 2-core machine the costliest mistake is oversubscription: PyTorch, ONNX Runtime,
OpenVINO and OpenCV each default to a pool as large as the machine, and two of them
working at once (or one spin-waiting) slow both down several times. The pipeline runs
the detector and the embedder one after the other on one inference thread, so each gets
``threads`` intra-op threads; each camera decodes on its own thread with OpenCV's pool
cut to ``opencv_threads``; PyTorch (only used by the tracker's imports, the naive
baseline and the torch ReID backend) gets the same ``threads``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadPlan:
    """The thread counts in force: what ``apply_thread_settings`` set and what backends get."""

    cpu_count: int
    pipelined: bool
    inference_threads: int
    detector_workers: int
    opencv_threads: int
    torch_threads: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the host's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def apply_thread_settings(
    threads: int | None = None, *, pipelined: bool = True, opencv_threads: int = 1
) -> ThreadPlan:
    """Set OpenCV's and (if loaded) PyTorch's pools; return the plan for the model backends.

    Args mirror ``performance`` in the config (``threads``, ``pipelined``, ``opencv_threads``);
    ``threads`` None: half the usable cores when pipelined, all of them when not.
    """
    cores = cpu_count()
    threads = threads or (max(1, cores // 2) if pipelined else cores)
    import cv2

    cv2.setNumThreads(opencv_threads)
    torch_threads = None
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
        torch_threads = threads
    workers = max(1, cores // threads)
    plan = ThreadPlan(cores, pipelined, threads, workers, opencv_threads, torch_threads)
    log.info("thread plan: %s", plan)
    return plan
