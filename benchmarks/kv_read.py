"""Whole-bucket KV reads under CPU load: nats-py's "no more values" marker against ``read_bucket``.

A loopback ``nats-server -js`` (file store); a bucket with ``--keys`` keys. ``--busy`` plain
Python busy loops load the CPU (the race needs a busy machine: on a quiet one both ways read
every key). Then, interleaved, ``--reads`` reads each way:

- ``marker``: a ``watchall`` read that stops at nats-py's first ``None`` (what ``CameraRegistry``
  did before; ``kv.keys()`` stops the same way);
- ``read_bucket``: ``reidcam.broker.kv.read_bucket``.

Prints one JSON line: incomplete reads (fewer keys than written) and ms per read, each way.
With ``--traffic-s S`` (no busy loops needed) it measures instead what following the camera
registry costs one process for S seconds, from nats-py's own counters: ``poll`` reads it every
second as workers and web servers did (``CameraRegistry.cameras()``), ``watch`` keeps one
``RegistryWatch``. Never pass/fail.

    PYTHONPATH=src python benchmarks/kv_read.py --reads 2000 --keys 2 --busy 3
    PYTHONPATH=src python benchmarks/kv_read.py --traffic-s 20 --keys 20 --busy 0
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from broker_sightings import start_server
from reidcam.broker.connection import BrokerClient
from reidcam.broker.kv import open_bucket, read_bucket
from reidcam.broker.leases import CameraRegistry
from reidcam.config.schema import BrokerConfig

BUCKET = "bench-kv-read"


async def marker_read(kv: Any) -> dict[str, bytes]:
    watcher = await kv.watchall(ignore_deletes=True, inactive_threshold=2.0)
    out: dict[str, bytes] = {}
    try:
        async for entry in watcher:
            if entry is None:
                break
            out[entry.key] = entry.value
    finally:
        await watcher.stop()
    return out


def traffic(url: str, keys: int, seconds: float) -> dict[str, object]:
    """Messages and bytes one process exchanges with the broker to follow the registry."""
    out: dict[str, object] = {}
    for way in ("poll", "watch"):
        with BrokerClient(BrokerConfig(url=url)) as client:
            registry = CameraRegistry(client).open()
            for i in range(keys):
                registry.put(f"cam{i}", {"source": f"rtsp://10.0.0.{i}/live"})
            watch = registry.follow() if way == "watch" else None
            if watch is not None:
                watch.wait_until(lambda cams: len(cams) == keys, 10.0)
            before = dict(client.nc.stats)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                got = registry.cameras() if watch is None else watch.cameras()
                assert len(got) == keys
                time.sleep(1.0)
            after = dict(client.nc.stats)
            if watch is not None:
                watch.stop()
            out[way] = {
                k: round((after[k] - before[k]) / seconds, 1)
                for k in ("in_msgs", "out_msgs", "in_bytes", "out_bytes")
            }
    return out


def busy() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=2000, help="reads each way")
    ap.add_argument("--keys", type=int, default=2)
    ap.add_argument("--busy", type=int, default=3, help="busy loops loading the CPU")
    ap.add_argument("--traffic-s", type=float, default=0.0, help="measure following the registry instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        if args.traffic_s > 0:
            try:
                per_s = traffic(url, args.keys, args.traffic_s)
            finally:
                proc.kill()
                proc.wait()
            print(json.dumps({"keys": args.keys, "seconds": args.traffic_s, "per_second": per_s}))
            return
        loops = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.busy)]
        try:
            with BrokerClient(BrokerConfig(url=url)) as client:
                kv = client.call(open_bucket(client, BUCKET, None))
                for i in range(args.keys):
                    client.call(kv.put(f"k{i}", b"{}"))
                for p in loops:
                    p.start()
                ways = {"marker": lambda: marker_read(kv), "read_bucket": lambda: read_bucket(client, kv)}
                short = dict.fromkeys(ways, 0)
                spent = dict.fromkeys(ways, 0.0)
                for _ in range(args.reads):
                    for name, read in ways.items():
                        t0 = time.perf_counter()
                        got = client.call(read())
                        spent[name] += time.perf_counter() - t0
                        short[name] += len(got) < args.keys
        finally:
            for p in loops:
                p.kill()
            proc.kill()
            proc.wait()
    result = {
        "reads_each": args.reads,
        "keys": args.keys,
        "busy_loops": args.busy,
        **{f"{n}_incomplete": short[n] for n in ways},
        **{f"{n}_ms_per_read": round(spent[n] / args.reads * 1000, 2) for n in ways},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
