"""ReID embedding throughput: crops/s in batches of 32 at 256x128, per runtime.

Measured through ``Embedder.embed`` (resize + normalise + inference + L2), the cost the
pipeline pays, and the runtime call alone, so the two can be told apart. Each figure is
the median of ``trials`` timed runs of ``batches`` batches.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from reidcam.config import ReidConfig
from reidcam.devices import CPU, Placement
from reidcam.perf.system import Phase
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.preprocess import BatchEmbedder, preprocess

log = logging.getLogger(__name__)

BATCH = 32


def _crops(n: int, seed: int = 0) -> list[np.ndarray]:
    """Person-shaped random crops of mixed sizes (BGR uint8), as a frame would give."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(80, 300, n)
    return [rng.integers(0, 255, (int(h), max(24, int(h) // 2), 3), dtype=np.uint8) for h in sizes]


def _rate(fn: Any, batches: int, trials: int, batch: int = BATCH) -> float:
    fn()
    rates = []
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(batches):
            fn()
        rates.append(batch * batches / (time.perf_counter() - t0))
    return round(float(np.median(rates)), 1)


def bench_embedder(
    model: str,
    weights: Path,
    runtime: str,
    threads: int,
    batches: int = 8,
    trials: int = 3,
    batch: int = BATCH,
    placement: Placement = CPU,
) -> dict[str, object]:
    """crops/s of ``embed`` and of the bare runtime call, batches of ``batch`` crops at 256x128."""
    cfg = ReidConfig.model_validate(
        {"model": model, "backend": runtime, "threads": threads, "batch_size": batch}
    )
    embedder = build_embedder(cfg, weights, placement)
    if not isinstance(embedder, BatchEmbedder):  # the bare-runtime figure needs its _run
        raise TypeError(f"{type(embedder).__name__} is not a BatchEmbedder: no bare runtime call to time")
    crops = _crops(batch)
    x = preprocess(crops, embedder.preset)
    embedder._run(x)  # a GPU's first call builds kernels: keep it out of the timing
    return {
        "runtime": runtime,
        "device": placement.label,
        "threads": threads,
        "batch": batch,
        "crops_per_s": _rate(lambda: embedder.embed(crops), batches, trials, batch),
        "crops_per_s_model_only": _rate(lambda: embedder._run(x), batches, trials, batch),
        "input": f"{batch}x3x{embedder.preset.height}x{embedder.preset.width}",
    }


def bench_embedders(
    model: str,
    weights: Path,
    runtimes: list[str],
    threads: list[int],
    batch_sizes: tuple[int, ...] = (BATCH,),
    placement: Placement = CPU,
) -> dict[str, object]:
    """Every runtime at every thread count and batch (on a busy machine 1 thread can beat 2)."""
    phase = Phase("embed")
    results = []
    for runtime in runtimes:
        for n in threads:
            for batch in batch_sizes:
                try:
                    results.append(
                        bench_embedder(model, weights, runtime, n, batch=batch, placement=placement)
                    )
                except Exception as exc:  # a missing runtime is reported, not fatal
                    log.warning("embedder bench on %s failed: %s", runtime, exc)
                    results.append({"runtime": runtime, "threads": n, "batch": batch, "error": str(exc)})
    best = max((v for r in results if isinstance(v := r.get("crops_per_s", 0.0), float)), default=0.0)
    return {
        "model": model,
        "batch": max(batch_sizes),
        "results": results,
        "best_crops_per_s": best,
        "process": phase.end(),
    }
