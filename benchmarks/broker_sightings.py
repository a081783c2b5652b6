"""Closed sightings through a real nats-server: publish and consume rates, lease takeover time.

Starts its own ``nats-server -js`` on a free loopback port with a temporary file store, sends
``--count`` 512-d sightings through ``SightingPublisher`` (ordered, one ack each), reads them
back with the durable consumer (fetch + ack), and times how long a camera lease takes to move
when its owner dies. Prints one JSON document; never pass/fail.

    python benchmarks/broker_sightings.py --count 2000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reidcam.broker.buffer import SightingPublisher
from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraLeases, LeaseKeeper
from reidcam.broker.streams import SightingConsumer
from reidcam.broker.wire import ClosedSighting, encode_sighting, new_sighting_id
from reidcam.config.schema import BrokerConfig

MODEL = "bench-model"


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    ports = workdir / "ports"
    ports.mkdir()
    cmd = [
        binary,
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
        "-sd",
        str(workdir / "store"),
        "--ports_file_dir",
        str(ports),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for f in ports.glob("*.ports"):
            try:
                return proc, json.loads(f.read_text())["nats"][0]
            except (ValueError, KeyError):
                pass
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("nats-server did not start")


def sighting(i: int, rng: np.random.Generator) -> ClosedSighting:
    vec = rng.standard_normal(512).astype(np.float32)
    return ClosedSighting(new_sighting_id(), f"cam{i % 8}", i, 0, 1000.0 + i, 1001.0 + i, 8, MODEL, vec)


def publish_and_consume(url: str, count: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    items = [sighting(i, rng) for i in range(count)]
    with BrokerClient(BrokerConfig(url=url)) as client:
        pub = SightingPublisher(client, max_queued=count).start()
        t0 = time.perf_counter()
        for s in items:
            pub.publish(s)
        pub.flush(600)
        pub_s = time.perf_counter() - t0
        pub.close()
        consumer = SightingConsumer(client, expect_model_id=MODEL).start()
        t0 = time.perf_counter()
        got = 0
        while batch := consumer.fetch(batch=256, timeout_s=0.5):
            for d in batch:
                d.ack()
            got += len(batch)
        con_s = time.perf_counter() - t0 - 0.5  # the last, empty fetch waits its timeout
        consumer.stop()
    return {
        "sightings": count,
        "bytes_per_sighting": len(encode_sighting(items[0])),
        "publish_per_s": round(count / pub_s, 1),
        "consume_per_s": round(got / max(con_s, 1e-6), 1),
        "consumed": got,
    }


def takeover_s(url: str, ttl_s: float) -> float:
    """Seconds from the owner's death (connection closed, no release) to the other holder's lease."""
    owner = BrokerClient(BrokerConfig(url=url, lease_ttl_s=ttl_s)).connect()
    with BrokerClient(BrokerConfig(url=url, lease_ttl_s=ttl_s)) as other_client:
        LeaseKeeper(CameraLeases(owner, "w1").open(), lambda *_: None).start().take("cam0")
        other = CameraLeases(other_client, "w2").open()
        time.sleep(ttl_s)
        owner.close()
        died = time.monotonic()
        while other.acquire("cam0") is None:
            time.sleep(0.02)
        return round(time.monotonic() - died, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--lease-ttl-s", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            out = publish_and_consume(url, args.count)
            out["lease_ttl_s"] = args.lease_ttl_s
            out["lease_takeover_s"] = takeover_s(url, args.lease_ttl_s)
        finally:
            proc.terminate()
            proc.wait(10)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
