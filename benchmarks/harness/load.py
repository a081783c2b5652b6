"""Load: the real server's pipeline FPS with no client, then with N browser-like clients.

Windows on one running server, interleaved: baseline (no client), then ``cycles`` times a
loaded window (N clients, each what an open page holds: API polling and one WebSocket with
every camera's frames and the events; ``transport="mjpeg"``: one MJPEG stream per camera and the
event stream, as the page held before issue #13) followed by
another baseline. Each loaded window is compared with the baselines on either side of it, so a
neighbour's load that comes or goes during the run shows up as disagreeing cycles rather than
being read as the clients' cost. FPS is each
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

from harness.procprobe import probe
from harness.soak import camera_fps, percentile
from harness.webclient import Transport
from reidcam.perf.system import load_average, steal_seconds


@dataclass(frozen=True)
class LoadOptions:
    clients: int = 20
    warmup_s: float = 20.0
    baseline_s: float = 30.0
    loaded_s: float = 30.0
    cycles: int = 3
    ramp_s: float = 5.0
    poll_s: float = 1.0
    lists_s: float = 1.0
    stream_fps: float = 10.0
    max_drop: float = 0.20
    transport: Transport = "ws"


async def measure_window(base_url: str, pid: int, seconds: float) -> dict[str, Any]:
    """Each camera's processed FPS, the server's CPU use and the load average over ``seconds``."""
    from harness.webclient import fetch_status

    before, cpu0, t0 = await fetch_status(base_url), probe(pid).cpu_s, time.monotonic()
    load0, steal0 = load_average(), steal_seconds()
    await asyncio.sleep(seconds)
    after, cpu1, t1 = await fetch_status(base_url), probe(pid).cpu_s, time.monotonic()
    steal1 = steal_seconds()
    fps = camera_fps(before, after, t1 - t0)
    stolen = None if steal0 is None or steal1 is None else round((steal1 - steal0) / (t1 - t0), 3)
    return {
        "seconds": round(t1 - t0, 1),
        "fps": fps,
        "fps_total": round(sum(fps.values()), 2),
        "server_cpu_util": round((cpu1 - cpu0) / (t1 - t0), 2),
        "steal_util": stolen,
        "load_avg_before": load0,
        "load_avg_after": load_average(),
    }


def fps_ratio(baselines: list[dict[str, Any]], loaded: dict[str, Any]) -> float | None:
    """Loaded total FPS over the mean of the baseline windows' total FPS (None without a baseline)."""
    base = [b["fps_total"] for b in baselines if b["fps_total"] > 0]
    if not base:
        return None
    return round(loaded["fps_total"] / statistics.mean(base), 3)


def cycle_ratios(baselines: list[dict[str, Any]], loaded: list[dict[str, Any]]) -> list[float | None]:
    """Each loaded window over the mean of the baselines just before and just after it."""
    return [fps_ratio(baselines[i : i + 2], window) for i, window in enumerate(loaded)]


def overall_ratio(baselines: list[dict[str, Any]], loaded: list[dict[str, Any]]) -> float | None:
    """Mean loaded total FPS over mean baseline total FPS, all windows of the run."""
    if not loaded:
        return None
    mean_loaded = {"fps_total": statistics.mean(w["fps_total"] for w in loaded)}
    return fps_ratio(baselines, mean_loaded)


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
    base_url: str, pid: int, cameras: list[str], opts: LoadOptions, stats: Any
) -> dict[str, Any]:
    from harness.webclient import Browser

    stop = asyncio.Event()
    browsers = [  # each shows every camera, as the page does
        Browser(
            base_url,
            stats,
            cameras,
            opts.poll_s,
            opts.stream_fps,
            lists_s=opts.lists_s,
            transport=opts.transport,
        )
        for _ in range(opts.clients)
    ]
    tasks = [asyncio.create_task(b.run(stop)) for b in browsers]
    await asyncio.sleep(opts.ramp_s)
    cpu0, t0 = sum(os.times()[:2]), time.monotonic()
    frames0 = stats.frames
    window = await measure_window(base_url, pid, opts.loaded_s)
    took = time.monotonic() - t0
    window["client_cpu_util"] = round((sum(os.times()[:2]) - cpu0) / took, 3)
    # What each viewer got: a server that kept up sends min(stream fps, camera fps) per camera.
    per_camera = (stats.frames - frames0) / took / max(1, opts.clients * len(cameras))
    window["frames_per_s_per_viewer_camera"] = round(per_camera, 2)
    stop.set()
    await asyncio.gather(*tasks)
    return window


async def run_load(
    base_url: str, pid: int, cameras: list[str], opts: LoadOptions, emit: Callable[[str], None]
) -> dict[str, Any]:
    """Interleaved baseline and loaded windows on a running server; ``emit`` gets progress lines."""
    from harness.webclient import ClientStats

    emit(f"warm-up {opts.warmup_s:g} s")
    await asyncio.sleep(opts.warmup_s)
    emit(f"baseline 1: {opts.baseline_s:g} s, no client")
    baselines = [await measure_window(base_url, pid, opts.baseline_s)]
    emit(f"  {window_line(baselines[0])}")
    stats, loaded = ClientStats(), []
    for cycle in range(1, opts.cycles + 1):
        emit(
            f"loaded {cycle}: {opts.clients} clients (status every {opts.poll_s:g} s, lists every "
            f"{opts.lists_s:g} s), {opts.ramp_s:g} s ramp + {opts.loaded_s:g} s"
        )
        loaded.append(await _loaded_window(base_url, pid, cameras, opts, stats))
        emit(f"  {window_line(loaded[-1])}")
        emit(f"baseline {cycle + 1}: {opts.baseline_s:g} s, no client")
        baselines.append(await measure_window(base_url, pid, opts.baseline_s))
        emit(f"  {window_line(baselines[-1])}")
    ratio = overall_ratio(baselines, loaded)
    failures = judge(ratio, stats.failures, opts.max_drop)
    return {
        "baselines": baselines,
        "loaded_windows": loaded,
        "cycle_ratios": cycle_ratios(baselines, loaded),
        "fps_ratio": ratio,
        "clients": opts.clients,
        "lists_s": opts.lists_s,
        "transport": opts.transport,
        "requests": dict(stats.requests),
        "requests_total": stats.total_requests,
        "failures": stats.failures,
        "faults": stats.faults,
        "api_latency_ms": {
            "p50": _round(percentile(stats.latencies_ms, 50)),
            "p95": _round(percentile(stats.latencies_ms, 95)),
            "max": _round(max(stats.latencies_ms, default=None)),
        },
        "frames": stats.frames,
        "frames_mb": round(stats.frame_bytes / 1e6, 1),
        "events": stats.events,
        "verdict": failures,
        "passed": not failures,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def window_line(w: dict[str, Any]) -> str:
    fps = " ".join(f"{cam}={v:.2f}" for cam, v in sorted(w["fps"].items()))
    extra = ""
    if "client_cpu_util" in w:
        per_viewer = w["frames_per_s_per_viewer_camera"]
        extra = (
            f", clients cpu {w['client_cpu_util']:.2f} cores, {per_viewer:.1f} frames/s per camera per viewer"
        )
    steal = "" if w.get("steal_util") is None else f", steal {w['steal_util']:.2f} cores"
    return (
        f"fps {fps} (total {w['fps_total']:.2f}), server cpu {w['server_cpu_util']:.2f} cores{extra}{steal}, "
        f"load {w['load_avg_before']} -> {w['load_avg_after']}"
    )


def summary_lines(r: dict[str, Any]) -> list[str]:
    base = statistics.mean(b["fps_total"] for b in r["baselines"])
    loaded = statistics.mean(w["fps_total"] for w in r["loaded_windows"])
    lat = r["api_latency_ms"]
    ratio = r["fps_ratio"]
    drop = "n/a" if ratio is None else f"{100 * (1 - ratio):.1f} %"
    cycles = ", ".join("n/a" if c is None else f"{c:.3f}" for c in r["cycle_ratios"])
    return [
        f"FPS total, baseline {base:.2f} (mean of {len(r['baselines'])} windows) vs loaded {loaded:.2f} "
        f"(mean of {len(r['loaded_windows'])}): ratio {ratio}, drop {drop}; each cycle: {cycles}",
        f"{r['clients']} clients: {r['requests_total']} requests, {r['failures']} failed; "
        f"API latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms",
        f"transport {r['transport']}: frames received {r['frames']} ({r['frames_mb']} MB), "
        f"events {r['events']}",
        "PASS: FPS drop < 20 % and no failed request" if r["passed"] else "FAIL: " + "; ".join(r["verdict"]),
    ]
