"""A real nats-server with JetStream for the broker tests: loopback only, its own store, by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

from reidcam.broker.wire import ClosedSighting, new_sighting_id
from reidcam.config.schema import BrokerConfig

NATS_SERVER = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None
)
MODEL = "osnet_x0_25"
MISSING_REASON = (
    "nats-server is not installed (Debian: apt-get install nats-server); the broker tests need a real "
    "JetStream server"
)


class NatsServer:
    """``nats-server -js -a 127.0.0.1 -p PORT -sd DIR``, started and stopped by its PID.

    The first start picks a free port (``-p -1``, read back from ``--ports_file_dir``); a
    restart keeps that port and the store directory, so JetStream's file store survives.
    """

    def __init__(self, workdir: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.extra_args = extra_args
        self.store_dir = workdir / "store"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / "nats-server.log"

    @property
    def url(self) -> str:
        assert self.port is not None, "start the server first"
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> NatsServer:
        assert NATS_SERVER is not None, MISSING_REASON
        ports_dir = self.workdir / "ports"
        ports_dir.mkdir(parents=True, exist_ok=True)
        for old in ports_dir.glob("*.ports"):
            old.unlink()
        port = str(self.port) if self.port is not None else "-1"
        cmd = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", port, "-sd", str(self.store_dir),
               "--ports_file_dir", str(ports_dir), *self.extra_args]  # fmt: skip
        with self._log.open("ab") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        self.port = self._wait_port(ports_dir, timeout_s)
        self._wait_ready(timeout_s)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        """Signal the server by its PID and wait for it to exit (SIGTERM: a clean shutdown)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
        self.proc = None

    def restart(self) -> NatsServer:
        self.stop()
        return self.start()

    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def _wait_port(self, ports_dir: Path, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            for f in ports_dir.glob("*.ports"):
                try:
                    urls = json.loads(f.read_text())["nats"]
                except (ValueError, KeyError):
                    continue  # being written
                return int(urls[0].rsplit(":", 1)[1])
            time.sleep(0.02)
        raise TimeoutError(f"nats-server wrote no ports file in {timeout_s} s:\n{self.log_text()}")

    def _wait_ready(self, timeout_s: float) -> None:
        """Ready = it answers a client with an INFO line that says JetStream is on."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port or 0), timeout=1.0) as s:
                    line = s.makefile("rb").readline().decode()
                if line.startswith("INFO ") and json.loads(line[5:]).get("jetstream"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"nats-server not ready in {timeout_s} s:\n{self.log_text()}")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {self.proc.returncode}:\n{self.log_text()}")


def free_port() -> int:
    """A loopback port nobody listens on (for the unreachable-URL tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_config(url: str, **overrides: object) -> BrokerConfig:
    """Short timeouts: the tests wait on reconnects and retries."""
    fields: dict[str, object] = {
        "url": url,
        "connect_timeout_s": 1.0,
        "connect_attempts": 2,
        "reconnect_wait_s": 0.2,
        "request_timeout_s": 2.0,
    }
    fields.update(overrides)
    return BrokerConfig.model_validate(fields)


def need_nats_server() -> None:
    """Skip, saying what to install, without nats-py or the nats-server binary."""
    import pytest

    pytest.importorskip("nats", reason="the broker tests need nats-py: pip install -e '.[dev]'")
    if NATS_SERVER is None:
        pytest.skip(MISSING_REASON)


def make_sighting(
    camera_id: str = "c1", model_id: str = MODEL, sighting_id: str | None = None, seed: int = 0
):
    vec = np.random.default_rng(seed).standard_normal(64).astype(np.float32)
    return ClosedSighting(
        sighting_id=sighting_id or new_sighting_id(),
        camera_id=camera_id,
        track_id=seed,
        part=0,
        first_seen_at=100.0 + seed,
        last_seen_at=101.0 + seed,
        n_embeddings=3,
        model_id=model_id,
        prototype=vec,
        worker="w1",
    )
