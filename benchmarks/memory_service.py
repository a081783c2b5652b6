"""The identity memory service through a real nats-server: commit rate and publish-to-assignment delay.

Starts its own ``nats-server -js`` (loopback, temporary store) and runs ``MemoryService`` in this
process on a fresh memory (SQLite in a temp dir, or ``--storage-url``). Sightings are 512-d views
of ``--people`` synthetic people (so they join identities, as on a real site), spread over 8
cameras. Two phases:

- burst: ``--count`` sightings published at once; stored per second until the last is committed;
- paced: ``--paced`` sightings at ``--rate`` per second; the delay from each publish to its
  assignment message (``reidcam.assignments.<camera>``), p50 / p95 / max.

Prints one JSON document; never pass/fail.

    python benchmarks/memory_service.py --count 2000 --paced 300 --rate 50
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from broker_sightings import start_server
from reidcam.broker.connection import BrokerClient
from reidcam.broker.streams import publish_sighting, setup_sightings_stream
from reidcam.broker.wire import ClosedSighting, new_sighting_id
from reidcam.cluster.memory_service import MemoryService, ServiceSettings
from reidcam.config.schema import BrokerConfig
from reidcam.core.types import l2_normalize
from reidcam.identity import IdentityMemory

MODEL = "bench-model"
DIM = 512


class Scene:
    """Views of a few synthetic people: each sighting is one of them plus a little noise."""

    def __init__(self, people: int) -> None:
        self.rng = np.random.default_rng(0)
        self.people = l2_normalize(self.rng.standard_normal((people, DIM)).astype(np.float32))
        self.n = 0

    def next(self) -> ClosedSighting:
        i, self.n = self.n, self.n + 1
        base = self.people[i % len(self.people)]
        vec = l2_normalize(base + 0.15 * self.rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM))
        t = 1000.0 + 10.0 * i
        return ClosedSighting(new_sighting_id(), f"cam{i % 8}", i, 0, t, t + 2.0, 8, MODEL, vec)


def burst(client: BrokerClient, service: MemoryService, scene: Scene, count: int) -> dict[str, float]:
    items = [scene.next() for _ in range(count)]
    before = service.stats.stored
    t0 = time.perf_counter()
    for s in items:
        client.call(publish_sighting(client, s))
    published_s = time.perf_counter() - t0
    while service.stats.stored - before < count:
        time.sleep(0.01)
    total_s = time.perf_counter() - t0
    return {"sightings": count, "publish_s": round(published_s, 2), "stored_per_s": round(count / total_s, 1)}


def paced(
    client: BrokerClient, service: MemoryService, scene: Scene, count: int, rate: float
) -> dict[str, Any]:
    sent: dict[str, float] = {}
    delays: list[float] = []
    done = threading.Event()

    async def on_assignment(msg: Any) -> None:
        source = json.loads(msg.data)["source_id"]
        if source in sent:
            delays.append(time.perf_counter() - sent[source])
            if len(delays) == count:
                done.set()

    client.call(client.nc.subscribe("reidcam.assignments.>", cb=on_assignment))
    client.call(client.nc.flush())
    start = time.perf_counter()
    for k in range(count):
        s = scene.next()
        time.sleep(max(0.0, start + k / rate - time.perf_counter()))
        sent[s.sighting_id] = time.perf_counter()
        client.call(publish_sighting(client, s))
    done.wait(120.0)
    ms = np.array(delays) * 1000.0
    return {
        "sightings": count,
        "rate_per_s": rate,
        "assigned": len(delays),
        "delay_ms_p50": round(float(np.percentile(ms, 50)), 1),
        "delay_ms_p95": round(float(np.percentile(ms, 95)), 1),
        "delay_ms_max": round(float(ms.max()), 1),
    }


def run(url: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    scene = Scene(args.people)
    with (
        BrokerClient(BrokerConfig(url=url)) as client,
        IdentityMemory.open(data_dir, url=args.storage_url) as memory,
    ):
        setup_sightings_stream(client)
        service = MemoryService(
            client, memory, ServiceSettings(name="bench", model_id=MODEL, batch=args.batch)
        )
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        while service.stats.role != "active":
            time.sleep(0.01)
        out: dict[str, Any] = {
            "database": memory.engine.dialect.name,
            "people": args.people,
            "batch": args.batch,
        }
        out["burst"] = burst(client, service, scene, args.count)
        out["paced"] = paced(client, service, scene, args.paced, args.rate)
        service.stop()
        thread.join(30.0)
        out["identities"] = memory.counts()["identities"]
        out["stats"] = {k: v for k, v in vars(service.stats).items() if k != "last_rejection"}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000, help="burst sightings")
    ap.add_argument("--paced", type=int, default=300, help="paced sightings")
    ap.add_argument("--rate", type=float, default=50.0, help="paced sightings per second")
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--storage-url", help="database (default: SQLite in a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            out = run(url, args, Path(tmp) / "data")
        finally:
            proc.terminate()
            proc.wait(10)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
