"""Whole-bucket KV reads under CPU load: nats-py's "no more values" marker against ``read_bucket``.

A loopback ``nats-server -js`` (file store); a bucket with ``--keys`` keys. ``--busy`` plain
Python busy loops load the CPU (the race needs a busy machine: on a quiet one both ways read
every key). Then, interleaved, ``--reads`` reads each way:

- ``marker``: a ``watchall`` read that stops at nats-py's first ``None`` (what ``CameraRegistry``
  did before; ``kv.keys()`` stops the same way);
- ``read_bucket``: ``reidcam.broker.kv.read_bucket``.

Prints one JSON line: incomplete reads (fewer keys than written) and ms per read, each way.
Never pass/fail.

    PYTHONPATH=src python benchmarks/kv_read.py --reads 2000 --keys 2 --busy 3
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


def busy() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=2000, help="reads each way")
    ap.add_argument("--keys", type=int, default=2)
    ap.add_argument("--busy", type=int, default=3, help="busy loops loading the CPU")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
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
