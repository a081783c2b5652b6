"""Load: the real server's pipeline FPS with no client, then with N browser-like clients.

Three windows on one running server: baseline (no client), loaded (N clients, each one MJPEG
stream + API polling + the event stream), and baseline again, so a neighbour's load that comes
or goes during the run shows up rather than being read as the clients' cost. FPS is each
camera's ``frames_processed`` delta over a window, read from ``/api/status``. The criterion of
issue #5: FPS under load drops by less than 20 % of the baseline, and no request fails.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reidcam.perf.procprobe import probe
from reidcam.perf.soak import camera_fps, percentile
from reidcam.perf.system import load_average


@dataclass(frozen=True)
class LoadOptions:
    clients: int = 20
    warmup_s: float = 20.0
    baseline_s: float = 60.0
    loaded_s: float = 60.0
    after_s: float = 30.0
    ramp_s: float = 5.0
    poll_s: float = 1.0
    lists_s: float = 1.0
    stream_fps: float = 10.0
    max_drop: float = 0.20


async def measure_window(base_url: str, pid: int, seconds: float) -> dict[str, Any]:
    """Each camera's processed FPS, the server's CPU use and the load average over ``seconds``."""
    from reidcam.perf.webclient import fetch_status

    before, cpu0, t0 = await fetch_status(base_url), probe(pid).cpu_s, time.monotonic()
    load0 = load_average()
    await asyncio.sleep(seconds)
    after, cpu1, t1 = await fetch_status(base_url), probe(pid).cpu_s, time.monotonic()
    fps = camera_fps(before, after, t1 - t0)
    return {
        "seconds": round(t1 - t0, 1),
        "fps": fps,
        "fps_total": round(sum(fps.values()), 2),
        "server_cpu_util": round((cpu1 - cpu0) / (t1 - t0), 2),
        "load_avg_before": load0,
        "load_avg_after": load_average(),
    }


def fps_ratio(baselines: list[dict[str, Any]], loaded: dict[str, Any]) -> float | None:
    """Loaded total FPS over the mean of the baseline windows' total FPS (None without a baseline)."""
    base = [b["fps_total"] for b in baselines if b["fps_total"] > 0]
    if not base:
        return None
    return round(loaded["fps_total"] / statistics.mean(base), 3)


def judge(ratio: float | None, failures: int, max_drop: float = 0.20) -> list[str]:
    """What misses issue #5's load criterion, in words (empty: passed)."""
    out = []
    if ratio is None:
        out.append("no baseline FPS")
    elif round(1.0 - ratio, 6) >= max_drop:  # rounded: 1 - 0.8 is 0.19999999999999996
        out.append(f"FPS dropped {100 * (1 - ratio):.1f} % under load (limit < {100 * max_drop:g} %)")
    if failures:
        out.append(f"{failures} request(s) failed")
    return out


async def _loaded_window(
    base_url: str, pid: int, cameras: list[str], opts: LoadOptions
) -> tuple[dict[str, Any], Any]:
    from reidcam.perf.webclient import Browser, ClientStats

    stats, stop = ClientStats(), asyncio.Event()
    browsers = [
        Browser(
            base_url, stats, [cameras[i % len(cameras)]], opts.poll_s, opts.stream_fps, lists_s=opts.lists_s
        )
        for i in range(opts.clients)
    ]
    tasks = [asyncio.create_task(b.run(stop)) for b in browsers]
    await asyncio.sleep(opts.ramp_s)
    cpu0, t0 = sum(os.times()[:2]), time.monotonic()
    window = await measure_window(base_url, pid, opts.loaded_s)
    window["client_cpu_util"] = round((sum(os.times()[:2]) - cpu0) / (time.monotonic() - t0), 2)
    stop.set()
    await asyncio.gather(*tasks)
    return window, stats


async def run_load(
    base_url: str, pid: int, cameras: list[str], opts: LoadOptions, emit: Callable[[str], None]
) -> dict[str, Any]:
    """Baseline, loaded and after windows on a running server; ``emit`` gets progress lines."""
    emit(f"warm-up {opts.warmup_s:g} s")
    await asyncio.sleep(opts.warmup_s)
    emit(f"baseline: {opts.baseline_s:g} s, no client")
    baseline = await measure_window(base_url, pid, opts.baseline_s)
    emit(f"  {window_line(baseline)}")
    emit(
        f"loaded: {opts.clients} clients (status every {opts.poll_s:g} s, lists every {opts.lists_s:g} s),"
        f" {opts.ramp_s:g} s ramp + {opts.loaded_s:g} s"
    )
    loaded, stats = await _loaded_window(base_url, pid, cameras, opts)
    emit(f"  {window_line(loaded)}")
    baselines = [baseline]
    if opts.after_s > 0:
        emit(f"baseline again: {opts.after_s:g} s, no client")
        after = await measure_window(base_url, pid, opts.after_s)
        emit(f"  {window_line(after)}")
        baselines.append(after)
    ratio = fps_ratio(baselines, loaded)
    failures = judge(ratio, stats.failures, opts.max_drop)
    return {
        "baselines": baselines,
        "loaded": loaded,
        "fps_ratio": ratio,
        "clients": opts.clients,
        "lists_s": opts.lists_s,
        "requests": dict(stats.requests),
        "requests_total": stats.total_requests,
        "failures": stats.failures,
        "faults": stats.faults,
        "api_latency_ms": {
            "p50": _round(percentile(stats.latencies_ms, 50)),
            "p95": _round(percentile(stats.latencies_ms, 95)),
            "max": _round(max(stats.latencies_ms, default=None)),
        },
        "mjpeg_frames": stats.mjpeg_frames,
        "mjpeg_mb": round(stats.mjpeg_bytes / 1e6, 1),
        "sse_events": stats.sse_events,
        "verdict": failures,
        "passed": not failures,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def window_line(w: dict[str, Any]) -> str:
    fps = " ".join(f"{cam}={v:.2f}" for cam, v in sorted(w["fps"].items()))
    return (
        f"fps {fps} (total {w['fps_total']:.2f}), server cpu {w['server_cpu_util']:.2f} cores, "
        f"load {w['load_avg_before']} -> {w['load_avg_after']}"
    )


def summary_lines(r: dict[str, Any]) -> list[str]:
    base = statistics.mean(b["fps_total"] for b in r["baselines"])
    lat = r["api_latency_ms"]
    ratio = r["fps_ratio"]
    drop = "n/a" if ratio is None else f"{100 * (1 - ratio):.1f} %"
    return [
        f"FPS total, baseline {base:.2f} (mean of {len(r['baselines'])} window(s)) vs loaded "
        f"{r['loaded']['fps_total']:.2f}: ratio {ratio}, drop {drop}",
        f"{r['clients']} clients: {r['requests_total']} requests, {r['failures']} failed; "
        f"API latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms",
        f"MJPEG frames received {r['mjpeg_frames']} ({r['mjpeg_mb']} MB), SSE events {r['sse_events']}, "
        f"client process cpu {r['loaded'].get('client_cpu_util')} cores",
        "PASS: FPS drop < 20 % and no failed request" if r["passed"] else "FAIL: " + "; ".join(r["verdict"]),
    ]
