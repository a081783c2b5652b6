"""The same cameras in one process and by 1 and 2 workers over a real nats-server, in one run.

Modes, run in interleaved windows (``single, w1, w2, single, w1, w2, ...``) so that the load
of a shared machine falls on all of them alike:

- ``single``: one process runs every camera as ``reidcam serve`` does (one ``Runner``, real
  models, an ``IdentitySink`` into a SQLite identity memory);
- ``w1``: one ``reidcam worker``-like process leases every camera; ``w2``: two, one camera each;
  both with a fresh loopback ``nats-server -js`` (file store, monitoring port) and ``reidcam
  memory`` (SQLite) as separate processes.

Cameras: the sample videos of ``$REIDCAM_MEDIA_DIR`` (``vtest.avi``, ``people-detection.264``),
looping, unpaced by default (``--fps 0``: every frame as fast as it decodes, so FPS measures the
pipeline's throughput and the broker's overhead on it) or paced (``--fps 10``). After
``--warmup-s`` each window measures for ``--window-s``:

- per-camera FPS (frames processed / cameras / s, from each process's ``Runner.stats``);
- broker traffic from nats-server's ``/varz`` (``in_msgs``, ``in_bytes``, ``out_msgs``,
  ``out_bytes``: sightings, their acks, leases, KV reads) and from a subscriber of
  ``reidcam.sightings.>`` (the sightings alone), per camera per second;
- CPU (utime + stime from ``/proc``) of every process: pipeline(s), nats-server, memory service;
- end-to-end delay: a sighting seen on ``reidcam.sightings.<cam>`` (published by the worker as
  it closes) to its assignment on ``reidcam.assignments.<cam>`` (stored, then announced by the
  memory service), both on this process's clock: p50 / p95.

Prints one JSON document (``--json`` writes it too); never pass/fail.

    PYTHONPATH=src nice -n 19 python benchmarks/cluster.py --rounds 2 --window-s 40 \
        --json benchmarks/results/cluster-2cam.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
SELF = Path(__file__).resolve()
SRC = SELF.parents[1] / "src"
DEFAULT_CAMERAS = {"vtest": "vtest.avi", "ceiling": "people-detection.264"}


# -- the child processes: one pipeline each, writing its counters to a status file ---------------


def _config(url: str | None, name: str) -> Any:
    from reidcam.config import AppConfig, load_config

    data = load_config(None).model_dump()
    if url is not None:
        data["broker"] = {**data["broker"], "url": url, "name": name}
    return AppConfig.model_validate(data)


def child(argv: list[str]) -> int:
    """``_child single STATUS CAMS_JSON FPS DATA`` or ``_child worker STATUS URL NAME MAX FPS``."""
    from functools import partial

    from reidcam.config import CameraConfig
    from reidcam.pipeline.build import build_models
    from reidcam.pipeline.replay import replay_camera

    mode, status_file = argv[0], Path(argv[1])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.set())

    def report(frames: int, extra: dict[str, Any]) -> None:
        tmp = status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"frames": frames, "t": time.monotonic(), **extra}))
        tmp.replace(status_file)

    if mode == "single":
        from reidcam.identity import IdentityMemory
        from reidcam.identity.sink import IdentitySink
        from reidcam.pipeline.runner import Runner

        cams, fps, data = json.loads(argv[2]), float(argv[3]), Path(argv[4])
        cfg = _config(None, "single")
        models = build_models(cfg)
        units = [replay_camera(cfg, fps, True, CameraConfig(id=c, source=s)) for c, s in cams.items()]
        perf = cfg.performance
        with IdentityMemory.open(data) as memory:
            sink = IdentitySink(memory)
            runner = Runner(units, models, sink=sink, prefetch_frames=perf.capture_queue_frames,
                            pipelined=perf.pipelined, wait_for_cameras=True)  # fmt: skip
            runner.start()
            while not stop.wait(0.5):
                report(runner.stats.frames, {"stored": sink.written, "cameras": len(units)})
            runner.stop()
            sink.close()
        return 0

    from reidcam.broker.connection import BrokerClient
    from reidcam.cluster.worker import Worker, WorkerOptions
    from reidcam.commands.worker import serve_worker

    url, name, max_cameras, fps = argv[2], argv[3], int(argv[4]), float(argv[5])
    cfg = _config(url, name)
    client = BrokerClient(cfg.broker).connect()
    try:
        models = build_models(cfg)
        options = WorkerOptions(name=name, max_cameras=max_cameras or None,
                                prefetch_frames=cfg.performance.capture_queue_frames,
                                pipelined=cfg.performance.pipelined)  # fmt: skip
        worker = Worker(client, models, partial(replay_camera, cfg, fps, True), options)
        thread = threading.Thread(target=serve_worker, args=(worker, stop), daemon=True)
        thread.start()
        while not stop.wait(0.5):
            runner = worker.runner
            st = worker.status()
            counters = {"cameras": len(st.cameras), "published": st.published, "publisher": st.publisher}
            report(runner.stats.frames if runner else 0, counters)
        worker.wake()
        thread.join(30)
    finally:
        client.close()
    return 0


# -- the orchestrator ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """utime + stime of a process, seconds (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def varz(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=5) as r:
        return dict(json.load(r))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


class Procs:
    """Started processes, stopped by PID (SIGTERM, then SIGKILL) in reverse order."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.items: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
        with (self.logdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.items.append((name, proc))
        return proc

    def stop(self) -> None:
        for _name, proc in reversed(self.items):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.items.clear()


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


class Delays:
    """Sighting published -> assignment announced, on this process's clock."""

    def __init__(self, url: str) -> None:
        from reidcam.broker.connection import BrokerClient
        from reidcam.config.schema import BrokerConfig

        self.client = BrokerClient(BrokerConfig.model_validate({"url": url, "name": "bench"})).connect()
        self.published: dict[str, float] = {}
        self.assigned: dict[str, float] = {}
        self.sighting_msgs = 0
        self.sighting_bytes = 0

        async def on_sighting(msg: Any) -> None:
            sid = (msg.headers or {}).get("Nats-Msg-Id")
            self.sighting_msgs += 1
            self.sighting_bytes += len(msg.data) + sum(
                len(k) + len(v) for k, v in (msg.headers or {}).items()
            )
            if sid:
                self.published.setdefault(sid, time.monotonic())

        async def on_assignment(msg: Any) -> None:
            body = json.loads(msg.data)
            if not body.get("duplicate"):
                self.assigned.setdefault(body["source_id"], time.monotonic())

        self.client.call(self.client.nc.subscribe("reidcam.sightings.>", cb=on_sighting))
        self.client.call(self.client.nc.subscribe("reidcam.assignments.>", cb=on_assignment))
        self.client.call(self.client.nc.flush())

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        ms = [
            (self.assigned[s] - t) * 1000
            for s, t in self.published.items()
            if t0 <= t < t1 and s in self.assigned
        ]
        unassigned = sum(1 for s, t in self.published.items() if t0 <= t < t1 and s not in self.assigned)
        return {"n": len(ms), "not_stored_yet": unassigned, "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95)}

    def close(self) -> None:
        self.client.close()


def start_cluster(
    mode: str,
    cams: dict[str, str],
    args: argparse.Namespace,
    work: Path,
    procs: Procs,
    statuses: list[tuple[str, Path, subprocess.Popen[bytes]]],
) -> tuple[int, Delays, dict[str, int]]:
    """nats-server, the camera registry, the memory service, ``w1``: one worker, ``w2``: two."""
    from reidcam.broker.connection import BrokerClient
    from reidcam.broker.leases import CameraRegistry
    from reidcam.config.schema import BrokerConfig

    py = sys.executable
    port, monitor = free_port(), free_port()
    url = f"nats://127.0.0.1:{port}"
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    nats = procs.start("nats-server", [binary, "-js", "-a", "127.0.0.1", "-p", str(port),
                                       "-m", str(monitor), "-sd", str(work / "store")])  # fmt: skip
    _wait(lambda: _answers(port), 15, "nats-server")
    with BrokerClient(BrokerConfig.model_validate({"url": url, "name": "bench-admin"})) as admin:
        reg = CameraRegistry(admin).open()
        for cid, src in cams.items():
            reg.put(cid, {"source": src})
    memory = procs.start("memory", [py, "-m", "reidcam.cli", "memory", "--broker", url,
                                    "--storage-url", f"sqlite:///{work / 'memory' / 'reidcam.db'}",
                                    "--data-dir", str(work / "memory"), "--name", "m1"])  # fmt: skip
    delays = Delays(url)
    n = 1 if mode == "w1" else 2
    for i in range(n):
        st = work / f"w{i + 1}.json"
        p = procs.start(f"w{i + 1}", [py, str(SELF), "_child", "worker", str(st), url, f"w{i + 1}",
                                      "0" if n == 1 else "1", str(args.fps)])  # fmt: skip
        statuses.append((f"w{i + 1}", st, p))
    return monitor, delays, {"nats-server": nats.pid, "memory": memory.pid}


def run_mode(mode: str, cams: dict[str, str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One window of one mode: start everything, warm up, measure, stop."""
    work.mkdir(parents=True)
    procs = Procs(work)
    py = sys.executable
    statuses: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    extra_pids: dict[str, int] = {}
    delays: Delays | None = None
    monitor = 0
    try:
        if mode == "single":
            st = work / "single.json"
            p = procs.start("single", [py, str(SELF), "_child", "single", str(st), json.dumps(cams),
                                       str(args.fps), str(work / "memory")])  # fmt: skip
            statuses.append(("single", st, p))
        else:
            monitor, delays, extra_pids = start_cluster(mode, cams, args, work, procs, statuses)

        def all_running() -> bool:
            total = 0
            for _n, path, p in statuses:
                s = read_status(path)
                if p.poll() is not None:
                    raise RuntimeError(f"{_n} exited: see {work}/{_n}.log")
                if s is None or s["frames"] == 0:
                    return False
                total += int(s["cameras"])
            return total == len(cams)

        _wait(all_running, 240, "every camera running")
        time.sleep(args.warmup_s)
        pids = {name: p.pid for name, _s, p in statuses} | extra_pids
        c0 = {k: cpu_s(v) for k, v in pids.items()}
        s0 = {name: read_status(path) for name, path, _p in statuses}
        v0 = varz(monitor) if monitor else None
        sm0 = (delays.sighting_msgs, delays.sighting_bytes) if delays else (0, 0)
        t0 = time.monotonic()
        time.sleep(args.window_s)
        t1 = time.monotonic()
        c1 = {k: cpu_s(v) for k, v in pids.items()}
        s1 = {name: read_status(path) for name, path, _p in statuses}
        v1 = varz(monitor) if monitor else None
        sm1 = (delays.sighting_msgs, delays.sighting_bytes) if delays else (0, 0)
        secs = t1 - t0
        frames = sum(int(s1[n]["frames"]) - int(s0[n]["frames"]) for n in s0)  # type: ignore[index]
        out: dict[str, Any] = {
            "mode": mode,
            "seconds": round(secs, 2),
            "fps_per_camera": round(frames / secs / len(cams), 2),
            "fps_by_process": {  # w2: each worker runs one camera
                n: round((int(s1[n]["frames"]) - int(s0[n]["frames"])) / secs, 2)  # type: ignore[index]
                for n in s0
            },
            "cpu_cores": {k: round((c1[k] - c0[k]) / secs, 3) for k in pids},
            "loadavg_at_end": os.getloadavg(),
        }
        if v0 and v1:
            per = secs * len(cams)
            out["broker_per_camera_per_s"] = {
                k: round((v1[k] - v0[k]) / per, 2) for k in ("in_msgs", "in_bytes", "out_msgs", "out_bytes")
            }
            out["sightings_per_camera_per_s"] = {
                "msgs": round((sm1[0] - sm0[0]) / per, 3),
                "bytes": round((sm1[1] - sm0[1]) / per, 1),
            }
        if delays:
            time.sleep(3.0)  # the window's last sightings get stored
            out["close_to_stored"] = delays.window(t0, t1)
        return out
    finally:
        if delays:
            delays.close()
        procs.stop()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait(pred: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(0.5)


def summarise(windows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = {}
    for w in windows:
        by.setdefault(w["mode"], []).append(w)
    summary: dict[str, Any] = {}
    for mode, ws in by.items():
        fps = [w["fps_per_camera"] for w in ws]
        summary[mode] = {"fps_per_camera_median": statistics.median(fps), "fps_per_camera": fps}
        if "close_to_stored" in ws[0]:
            summary[mode]["close_to_stored_p50_ms"] = [w["close_to_stored"]["p50_ms"] for w in ws]
            summary[mode]["close_to_stored_p95_ms"] = [w["close_to_stored"]["p95_ms"] for w in ws]
    single = summary.get("single", {}).get("fps_per_camera_median")
    for mode in ("w1", "w2"):
        if single and mode in summary:
            summary[mode]["fps_ratio_to_single"] = round(summary[mode]["fps_per_camera_median"] / single, 3)
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        return child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default="single,w1,w2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--window-s", type=float, default=40.0)
    ap.add_argument("--warmup-s", type=float, default=10.0)
    ap.add_argument("--fps", type=float, default=0.0, help="0: unpaced (throughput); else frames/s taken")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    media = Path(os.environ.get("REIDCAM_MEDIA_DIR", ""))
    cams = {cid: str(media / f) for cid, f in DEFAULT_CAMERAS.items()}
    missing = [p for p in cams.values() if not Path(p).is_file()]
    if missing:
        print(f"cluster bench: missing sample videos (REIDCAM_MEDIA_DIR): {missing}", file=sys.stderr)
        return 2
    windows = []
    with tempfile.TemporaryDirectory(prefix="reidcam-cluster-bench-") as tmp:
        for r in range(args.rounds):
            for mode in args.modes.split(","):
                res = run_mode(mode, cams, args, Path(tmp) / f"{r}-{mode}")
                print(json.dumps(res), file=sys.stderr, flush=True)
                windows.append(res)
    doc = {
        "cameras": cams,
        "fps": args.fps,
        "window_s": args.window_s,
        "warmup_s": args.warmup_s,
        "cpus": os.cpu_count(),
        "windows": windows,
        "summary": summarise(windows),
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
