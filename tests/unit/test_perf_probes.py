"""The soak/load measurement code: /proc probes on this very process, and the judging logic on
synthetic series, so a figure in docs/reliability.md is only as wrong as the server it measured."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.load import cycle_ratios, fps_ratio, judge, overall_ratio
from harness.procprobe import count_fds, cpu_seconds, descendants, probe, read_status, rss_mb
from harness.served import ServeOptions, free_port, serve_command
from harness.soak import (
    Criteria,
    MinuteRow,
    camera_fps,
    percentile,
    slope_per_hour,
    summarize,
    verdict_line,
)
from reidcam.perf.system import steal_seconds

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def test_probe_of_this_process_matches_what_python_sees(tmp_path: Path) -> None:
    me = os.getpid()
    before = probe(me)
    assert 10 < before.rss_mb < 100_000
    assert before.threads >= threading.active_count()
    assert abs(before.fds - len(os.listdir("/proc/self/fd"))) <= 1  # both count the listing's own handle
    with open(tmp_path / "a", "w"), open(tmp_path / "b", "w"):
        assert count_fds(me) >= before.fds + 2
    ballast = bytearray(64 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    assert rss_mb(read_status(me)) > before.rss_mb + 50
    del ballast


def test_threads_and_cpu_are_counted() -> None:
    me, stop = os.getpid(), threading.Event()
    n0 = probe(me).threads
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert probe(me).threads == n0 + 1
    finally:
        stop.set()
        worker.join()
    cpu0, t_end = cpu_seconds(me), time.process_time() + 0.2
    while time.process_time() < t_end:
        pass
    assert cpu_seconds(me) - cpu0 >= 0.1


def test_children_are_part_of_the_tree() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 5
        while child.pid not in descendants(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in descendants(os.getpid())
        tree, alone = probe(os.getpid()), read_status(os.getpid())
        assert tree.pids >= 2 and tree.rss_mb > rss_mb(alone)
    finally:
        child.kill()
        child.wait()
    with pytest.raises(OSError):
        probe(child.pid)


def _rows(
    rss: list[float], fds: list[int] | None = None, threads: list[int] | None = None
) -> list[MinuteRow]:
    n = len(rss)
    fds, threads = fds or [20] * n, threads or [19] * n
    return [
        MinuteRow(
            i + 1, 60.0 * (i + 1), rss[i], fds[i], threads[i], {"cam0": 5.0, "cam1": 4.0 + i % 2}, 0, 240
        )
        for i in range(n)
    ]


def test_growth_counts_from_after_the_warm_up() -> None:
    warm = summarize(_rows([600, 800, 810, 820, 830]))  # +200 MB in the first minute: caches filling
    assert warm["rss_growth_mb"] == 30 and warm["rss_growth_from_first_mb"] == 230
    assert warm["passed"] and warm["judged"] and warm["fps_min"] == 4.0
    assert verdict_line(warm).startswith("PASS")
    leak = summarize(_rows([800, 800, 830, 850, 870]))
    assert leak["rss_growth_mb"] == 70 and not leak["passed"]
    assert "RSS grew 70.0 MB" in verdict_line(leak)


def test_descriptor_thread_and_client_faults_fail_the_soak() -> None:
    fds = summarize(_rows([800] * 4, fds=[20, 20, 21, 23]))
    assert fds["fd_growth"] == 3 and not fds["passed"]
    threads = summarize(_rows([800] * 4, threads=[30, 19, 19, 20]))  # a dip below the baseline is fine
    assert threads["thread_growth"] == 1 and not threads["passed"]
    rows = _rows([800] * 3)
    rows[-1].client_errors = 2
    assert summarize(rows)["failures"] == ["2 client request(s) failed"]
    lenient = summarize(_rows([800] * 4, fds=[20, 20, 21, 23]), Criteria(max_fd_growth=5))
    assert lenient["passed"]


def test_rss_trend_tells_a_leak_from_a_cache_that_filled() -> None:
    assert slope_per_hour([1, 2, 3, 4], [800, 801, 802, 803]) == 60.0
    assert slope_per_hour([1, 2, 3], [800, 800, 800]) == 0.0
    assert slope_per_hour([1, 2], [800, 900]) is None
    assert summarize(_rows([600, 800, 810, 820, 830]))["rss_slope_mb_per_h"] == 600.0


def test_a_single_minute_is_not_judged_for_growth() -> None:
    one = summarize(_rows([800.0]))
    assert one["judged"] is False and one["rss_growth_mb"] == 0
    assert "too short" in verdict_line(one)
    with pytest.raises(ValueError):
        summarize([])


def test_fps_and_percentiles() -> None:
    a = {
        "cameras": [
            {"camera_id": "cam0", "frames_processed": 100},
            {"camera_id": "cam1", "frames_processed": 7},
        ]
    }
    b = {
        "cameras": [
            {"camera_id": "cam0", "frames_processed": 400},
            {"camera_id": "cam1", "frames_processed": 7},
        ]
    }
    assert camera_fps(a, b, 60.0) == {"cam0": 5.0, "cam1": 0.0}
    assert camera_fps(None, b, 60.0) == {}
    assert percentile([], 50) is None
    assert percentile([3, 1, 2, 4], 50) == 2.5 and percentile(list(range(101)), 95) == 95


def test_load_ratio_and_criterion() -> None:
    baselines = [{"fps_total": 20.0}, {"fps_total": 16.0}]
    assert fps_ratio(baselines, {"fps_total": 16.2}) == 0.9
    assert judge(0.9, 0) == []
    assert judge(0.8, 0) == ["FPS dropped 20.0 % under load (limit < 20 %)"]
    assert judge(0.95, 3) == ["3 request(s) failed"]
    assert fps_ratio([{"fps_total": 0.0}], {"fps_total": 5.0}) is None


def test_interleaved_windows_compare_each_load_with_its_neighbours() -> None:
    baselines = [{"fps_total": t} for t in (20.0, 22.0, 16.0)]
    loaded = [{"fps_total": 18.9}, {"fps_total": 17.1}]
    assert cycle_ratios(baselines, loaded) == [0.9, 0.9]  # 18.9 / 21 and 17.1 / 19
    assert overall_ratio(baselines, loaded) == round(18.0 / (58.0 / 3), 3)
    assert overall_ratio(baselines, []) is None


def test_steal_time_is_read_from_the_kernel() -> None:
    stolen = steal_seconds()
    assert stolen is None or stolen >= 0.0


def test_serve_command_loops_paced_cameras_on_loopback(tmp_path: Path) -> None:
    for name in ("vtest.avi", "people-detection.264"):
        (tmp_path / name).write_bytes(b"")
    cmd = serve_command(ServeOptions(media_dir=tmp_path, cameras=3, fps=12.5), tmp_path / "d", 8123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--fps") + 1] == "12.5"
    assert "--start" in cmd and "--no-loop" not in cmd
    sources = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--source"]
    assert sources == [
        f"cam0={tmp_path / 'vtest.avi'}",
        f"cam1={tmp_path / 'people-detection.264'}",
        f"cam2={tmp_path / 'vtest.avi'}",
    ]
    assert 0 < free_port() < 65536
