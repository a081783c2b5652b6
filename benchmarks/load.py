"""Load the real server: pipeline FPS with no client vs with ``--clients`` browser-like clients.

``reidcam serve`` runs two looping sample videos paced at ``--fps`` (25: a live camera's rate);
the script measures each camera's processed FPS over a baseline window with no client, then
``--cycles`` times a loaded window with N clients on loopback (each what an open page holds:
API polling every second and one WebSocket with every camera's frames and the events; with
``--transport mjpeg`` an MJPEG stream per camera and the event stream instead, as the page held
before issue #13) followed by another baseline, then prints baseline vs
loaded FPS (overall and per cycle), request counts, failures and API latency p50/p95. Usage:

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/load.py --json load.json

The clients run in this process, on the same CPUs as the server: their CPU use is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.load import LoadOptions, run_load, summary_lines
from harness.served import ServerProcess, add_server_args, server_options
from reidcam.perf.system import load_average, run_async, write_report


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    p.add_argument("--baseline-s", type=float, default=30.0, help="each no-client window, s (default 30)")
    p.add_argument("--loaded-s", type=float, default=30.0, help="each loaded window, s (default 30)")
    p.add_argument(
        "--cycles", type=int, default=3, help="loaded windows, each followed by a baseline (default 3)"
    )
    p.add_argument("--warmup-s", type=float, default=20.0, help="before the baseline, s (default 20)")
    p.add_argument(
        "--lists-s",
        type=float,
        default=1.0,
        help="seconds between polls of the cameras/gallery/matches lists (default 1; the page: 5)",
    )
    p.add_argument(
        "--transport",
        choices=("ws", "mjpeg"),
        default="ws",
        help="what each client holds: the page's WebSocket (default) or an MJPEG stream per camera + SSE",
    )
    add_server_args(p, fps=25.0)
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    serve = server_options(args)
    opts = LoadOptions(
        clients=args.clients,
        warmup_s=args.warmup_s,
        baseline_s=args.baseline_s,
        loaded_s=args.loaded_s,
        cycles=args.cycles,
        lists_s=args.lists_s,
        transport=args.transport,
    )
    cameras = [f"cam{i}" for i in range(args.cameras)]
    started = time.time()
    with ServerProcess(serve) as srv:
        print(
            f"load: server pid {srv.pid} at {srv.url}, {args.cameras} cameras at {args.fps:g} fps, "
            f"load {load_average()}",
            flush=True,
        )
        result = run_async(run_load(srv.url, srv.pid, cameras, opts, lambda s: print(s, flush=True)))
        result["server_exit_code"] = srv.stop()
        result["server_killed"] = srv.killed
    for line in summary_lines(result):
        print(line, flush=True)
    write_report(args.json, vars(args), started, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
