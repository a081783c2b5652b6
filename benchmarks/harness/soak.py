"""Soak: the real server under one browser-like client for many minutes, watched for leaks.

Every ``sample_s`` the server process is probed (RSS, descriptors, threads); every minute one
row sums the minute up (medians of its samples, each camera's processed FPS from the status
API's ``frames_processed``, client failures). The summary compares the last minute with the
first one after warm-up (model arenas, caches and the thread pool fill the first minute) and
judges the issue's criteria: RSS growth < 50 MB, no descriptor or thread growth, no failure.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.procprobe import ProcessSample, probe
from reidcam.perf.system import load_average


@dataclass(frozen=True)
class Criteria:
    """What a healthy soak looks like; growth is measured from minute ``warmup_minutes + 1``."""

    max_rss_growth_mb: float = 50.0
    max_fd_growth: int = 0
    max_thread_growth: int = 0
    max_client_errors: int = 0
    warmup_minutes: int = 1


@dataclass
class MinuteRow:
    """One minute of a soak: medians of the process samples, FPS per camera, client figures."""

    minute: int
    elapsed_s: float
    rss_mb: float
    fds: int
    threads: int
    fps: dict[str, float]
    client_errors: int
    requests: int
    load_avg: list[float] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation); None for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def camera_fps(
    before: dict[str, Any] | None, after: dict[str, Any] | None, seconds: float
) -> dict[str, float]:
    """Processed frames per second of each camera between two ``/api/status`` bodies."""
    if not before or not after or seconds <= 0:
        return {}
    first = {c["camera_id"]: c["frames_processed"] for c in before.get("cameras", [])}
    out = {}
    for cam in after.get("cameras", []):
        if cam["camera_id"] in first:
            done = cam["frames_processed"] - first[cam["camera_id"]]
            out[cam["camera_id"]] = round(max(done, 0) / seconds, 2)
    return out


def minute_row(
    minute: int,
    elapsed_s: float,
    samples: Sequence[ProcessSample],
    fps: dict[str, float],
    errors: int,
    requests: int,
) -> MinuteRow:
    """Sum one minute up; medians, so one sample taken mid-request does not look like a leak."""
    return MinuteRow(
        minute=minute,
        elapsed_s=round(elapsed_s, 1),
        rss_mb=round(statistics.median(s.rss_mb for s in samples), 1),
        fds=round(statistics.median(s.fds for s in samples)),
        threads=round(statistics.median(s.threads for s in samples)),
        fps=fps,
        client_errors=errors,
        requests=requests,
        load_avg=load_average(),
    )


def format_row(row: MinuteRow) -> str:
    fps = " ".join(f"{cam}={v:.1f}" for cam, v in sorted(row.fps.items())) or "-"
    load = "/".join(f"{x:.1f}" for x in row.load_avg) or "-"
    return (
        f"[{row.elapsed_s / 60:5.1f} min] rss {row.rss_mb:7.1f} MB  fds {row.fds:4d}"
        f"  threads {row.threads:3d}  fps {fps}  requests {row.requests}"
        f"  client errors {row.client_errors}  load {load}"
    )


def _growth(rows: Sequence[MinuteRow], attr: str, base: int) -> float:
    return float(getattr(rows[-1], attr) - getattr(rows[base], attr))


def slope_per_hour(minutes: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of ``values`` per hour: a leak keeps climbing, a filling cache levels off."""
    if len(values) < 3:
        return None
    mx, my = statistics.mean(minutes), statistics.mean(values)
    sxx = sum((x - mx) ** 2 for x in minutes)
    if sxx == 0:
        return None
    return round(60.0 * sum((x - mx) * (y - my) for x, y in zip(minutes, values, strict=True)) / sxx, 1)


def summarize(rows: Sequence[MinuteRow], criteria: Criteria | None = None) -> dict[str, Any]:
    """Growth, FPS and the verdict of a soak's minute rows (at least one row)."""
    c = criteria or Criteria()
    if not rows:
        raise ValueError("a soak summary needs at least one minute")
    base = min(c.warmup_minutes, len(rows) - 1)
    all_fps = [v for r in rows[base:] for v in r.fps.values()]
    out: dict[str, Any] = {
        "minutes": len(rows),
        "baseline_minute": rows[base].minute,
        "judged": len(rows) - 1 > base,
        "rss_first_mb": rows[0].rss_mb,
        "rss_baseline_mb": rows[base].rss_mb,
        "rss_last_mb": rows[-1].rss_mb,
        "rss_growth_from_first_mb": round(_growth(rows, "rss_mb", 0), 1),
        "rss_growth_mb": round(_growth(rows, "rss_mb", base), 1),
        "rss_max_mb": max(r.rss_mb for r in rows),
        "rss_slope_mb_per_h": slope_per_hour(
            [r.minute for r in rows[base:]], [r.rss_mb for r in rows[base:]]
        ),
        "fd_growth": int(_growth(rows, "fds", base)),
        "thread_growth": int(_growth(rows, "threads", base)),
        "fps_min": min(all_fps) if all_fps else None,
        "fps_median": round(statistics.median(all_fps), 2) if all_fps else None,
        "client_errors": rows[-1].client_errors,
        "requests": rows[-1].requests,
        "criteria": asdict(c),
    }
    out["failures"] = verdict(out, c)
    out["passed"] = not out["failures"]
    return out


def verdict(s: dict[str, Any], c: Criteria) -> list[str]:
    """The criteria a summary misses, in words (empty: passed)."""
    failed = []
    if s["rss_growth_mb"] >= c.max_rss_growth_mb:
        failed.append(f"RSS grew {s['rss_growth_mb']:.1f} MB (limit < {c.max_rss_growth_mb:g})")
    if s["fd_growth"] > c.max_fd_growth:
        failed.append(f"open descriptors grew by {s['fd_growth']}")
    if s["thread_growth"] > c.max_thread_growth:
        failed.append(f"threads grew by {s['thread_growth']}")
    if s["client_errors"] > c.max_client_errors:
        failed.append(f"{s['client_errors']} client request(s) failed")
    if not s["fps_min"]:
        failed.append("a camera processed no frames in a minute")
    return failed


def verdict_line(s: dict[str, Any]) -> str:
    judged = "" if s["judged"] else " (too short to judge growth: run longer than the warm-up + 1 minute)"
    if s["passed"]:
        return f"PASS: RSS +{s['rss_growth_mb']:.1f} MB, no descriptor/thread growth, no client error{judged}"
    return "FAIL: " + "; ".join(s["failures"]) + judged


def summary_lines(s: dict[str, Any]) -> list[str]:
    return [
        f"minutes {s['minutes']}, growth measured from minute {s['baseline_minute']}",
        f"RSS: first {s['rss_first_mb']:.1f} MB, after warm-up {s['rss_baseline_mb']:.1f} MB, "
        f"last {s['rss_last_mb']:.1f} MB, max {s['rss_max_mb']:.1f} MB; growth after warm-up "
        f"{s['rss_growth_mb']:+.1f} MB (from the first minute {s['rss_growth_from_first_mb']:+.1f} MB), "
        f"trend after warm-up {s['rss_slope_mb_per_h']} MB/h",
        f"descriptors growth {s['fd_growth']:+d}, threads growth {s['thread_growth']:+d}",
        f"pipeline FPS per camera after warm-up: min {s['fps_min']}, median {s['fps_median']}",
        f"client requests {s['requests']}, failures {s['client_errors']}",
        verdict_line(s),
    ]


@dataclass
class SoakOptions:
    minutes: float = 30.0
    sample_s: float = 5.0
    minute_s: float = 60.0
    poll_s: float = 1.0
    stream_fps: float = 10.0
    criteria: Criteria = field(default_factory=Criteria)


async def _take_minute(pid: int, until: float, sample_s: float) -> list[ProcessSample]:
    """Probe ``pid`` every ``sample_s`` until ``until`` (monotonic). Raises OSError if it ended."""
    samples = [probe(pid)]
    while time.monotonic() + sample_s <= until + 1e-3:
        await asyncio.sleep(sample_s)
        samples.append(probe(pid))
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    return samples


async def run_soak(
    base_url: str, pid: int, cameras: list[str], opts: SoakOptions, emit: Callable[[str], None]
) -> dict[str, Any]:
    """Browse ``base_url`` for ``opts.minutes`` while probing ``pid``; ``emit`` gets each minute's line."""
    from harness.webclient import Browser, ClientStats, fetch_status

    stats, stop = ClientStats(), asyncio.Event()
    browser = Browser(base_url, stats, cameras, opts.poll_s, opts.stream_fps, pick_query=True)
    client = asyncio.create_task(browser.run(stop))
    rows: list[MinuteRow] = []
    t0, died = time.monotonic(), None
    before = await fetch_status(base_url)
    t_before = time.monotonic()
    try:
        for minute in range(1, max(1, round(opts.minutes * 60 / opts.minute_s)) + 1):
            try:
                samples = await _take_minute(pid, t0 + minute * opts.minute_s, opts.sample_s)
            except OSError as exc:
                died = f"the server process ended after {(time.monotonic() - t0) / 60:.1f} min ({exc})"
                emit(died)
                break
            after, t_after = await fetch_status(base_url), time.monotonic()
            fps = camera_fps(before, after, t_after - t_before)
            before, t_before = after or before, t_after if after else t_before
            row = minute_row(minute, t_after - t0, samples, fps, stats.failures, stats.total_requests)
            rows.append(row)
            emit(format_row(row))
    finally:
        stop.set()
        await client
    if not rows:
        raise RuntimeError(died or "the soak recorded no minute")
    summary = summarize(rows, opts.criteria)
    if died:
        summary["failures"].append(died)
        summary["passed"] = False
    summary["query_set"] = stats.query_set
    summary["frames"] = stats.frames
    summary["events"] = stats.events
    summary["faults"] = stats.faults
    summary["api_latency_ms"] = {
        "p50": percentile(stats.latencies_ms, 50),
        "p95": percentile(stats.latencies_ms, 95),
    }
    return {"rows": [asdict(r) for r in rows], "summary": summary}
