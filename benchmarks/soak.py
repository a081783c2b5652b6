"""Soak the real server: ``reidcam serve`` with two looping sample videos and one browser-like
client for ``--minutes``, printing server RSS, descriptors, threads and FPS every minute.

Usage (weights and videos come from the environment):

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/soak.py --minutes 30 --json soak.json

The last line says PASS or FAIL against issue #5's criteria (RSS growth after warm-up < 50 MB, no
descriptor or thread growth, no failed client request); the exit code is 0 either way unless the run
itself broke, since benchmarks report figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.served import ServerProcess, add_server_args, server_options
from harness.soak import Criteria, SoakOptions, run_soak, summary_lines
from reidcam.perf.system import load_average, run_async, write_report


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="how long to run (default 30)")
    add_server_args(p, fps=10.0)
    p.add_argument("--sample-s", type=float, default=5.0, help="seconds between process probes (default 5)")
    p.add_argument("--warmup-minutes", type=int, default=1, help="minutes before growth counts (default 1)")
    p.add_argument("--data-dir", type=Path, help="keep the server's data and log here (else a temp folder)")
    p.add_argument("--json", type=Path, help="also write rows and summary to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    opts = server_options(args, data_dir=args.data_dir)
    soak = SoakOptions(
        minutes=args.minutes, sample_s=args.sample_s, criteria=Criteria(warmup_minutes=args.warmup_minutes)
    )
    cameras = [f"cam{i}" for i in range(args.cameras)]
    started = time.time()
    with ServerProcess(opts) as srv:
        print(
            f"soak: server pid {srv.pid} at {srv.url}, {args.cameras} cameras at {args.fps:g} fps, "
            f"{args.minutes:g} min, load {load_average()}",
            flush=True,
        )
        result = run_async(run_soak(srv.url, srv.pid, cameras, soak, lambda line: print(line, flush=True)))
        code = srv.stop()
    result["summary"]["server_exit_code"] = code
    result["summary"]["server_killed"] = srv.killed
    for line in summary_lines(result["summary"]):
        print(line, flush=True)
    write_report(args.json, vars(args), started, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
