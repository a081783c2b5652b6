"""``reidcam worker --broker nats://HOST:PORT``: the perception worker of the distributed mode.

Connects first (an unreachable broker is one error line and exit code 2 before any model
loads), then loads the models exactly as ``reidcam serve`` does (``pipeline.build``), builds
each leased camera as it does (``pipeline.replay``: file cameras paced and looping), and runs a
``cluster.worker.Worker`` until SIGTERM or SIGINT, which stop it cleanly: open sightings closed
and published, leases released, the publisher flushed for a bounded time.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from functools import partial
from pathlib import Path
from types import FrameType

from reidcam.broker.connection import BrokerClient
from reidcam.cluster.worker import Worker, WorkerOptions
from reidcam.commands.options import add_device_arg
from reidcam.config import AppConfig, load_config
from reidcam.core.errors import ConfigError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("worker", help="scale-out perception worker: leases cameras from the NATS broker")
    p.add_argument("--broker", help="NATS URL nats://HOST:PORT or tls://HOST:PORT (else broker.url)")
    p.add_argument("--name", help="this worker's unique name (default HOSTNAME-PID)")
    p.add_argument("--max-cameras", type=int, help="lease at most this many cameras (default: no limit)")
    p.add_argument(
        "--config", help="YAML config: models, performance, broker credentials (cameras come from the broker)"
    )
    p.add_argument("--weights-dir", help="folder with model weights (else $REIDCAM_WEIGHTS_DIR, cache)")
    p.add_argument("--allow-download", action="store_true", help="download missing weights (needs internet)")
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="file cameras (demo videos, image folders) are paced as in `reidcam serve`: frames per "
        "second taken from them (default: a video's own rate, 5/s for image folders); 0: unpaced",
    )
    p.add_argument("--no-loop", action="store_true", help="play file cameras once, not in a loop")
    p.add_argument(
        "--no-sighting-crops",
        action="store_true",
        help="send closed sightings without their best crop (10-20 KB each): People then has no "
        "pictures of what this worker saw",
    )
    add_device_arg(p)
    p.set_defaults(func=run)


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def worker_config(args: argparse.Namespace) -> AppConfig:
    """The config file (or defaults) with --broker, --name, --weights-dir, --device applied.

    Raises:
        ConfigError: no broker URL anywhere, or an invalid option.
    """
    data = load_config(args.config).model_dump()
    broker = data["broker"]
    if args.broker:
        broker["url"] = args.broker
    if broker.get("url") is None:
        raise ConfigError("reidcam worker needs a broker: --broker nats://HOST:PORT or broker.url")
    if args.name:
        broker["name"] = args.name
    if args.weights_dir:
        data["weights"]["dir"] = Path(args.weights_dir)
    if args.allow_download:
        data["weights"]["allow_download"] = True
    if args.device:
        data["performance"]["device"] = args.device
    try:
        return AppConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid option: {exc}") from exc


def worker_options(cfg: AppConfig, args: argparse.Namespace) -> WorkerOptions:
    if args.max_cameras is not None and args.max_cameras < 1:
        raise ConfigError(f"--max-cameras must be at least 1, got {args.max_cameras}")
    perf = cfg.performance
    return WorkerOptions(
        name=args.name or default_name(),
        max_cameras=args.max_cameras,
        prefetch_frames=perf.capture_queue_frames,
        pipelined=perf.pipelined,
        sighting_crops=not args.no_sighting_crops,
    )


def run(args: argparse.Namespace) -> int:
    from reidcam.pipeline.build import build_models
    from reidcam.pipeline.replay import replay_camera

    cfg = worker_config(args)
    if args.fps is not None and args.fps < 0:
        raise ConfigError("--fps must be >= 0 (0 plays file cameras as fast as they decode)")
    options = worker_options(cfg, args)
    if not args.name and cfg.broker.name == "reidcam":  # the connection's name = the worker's
        cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"name": options.name})})
    client = BrokerClient(cfg.broker).connect()  # unreachable: BrokerUnavailableError, exit 2
    try:
        log.info("loading models")
        models = build_models(cfg)
        build = partial(replay_camera, cfg, args.fps, not args.no_loop)  # as `reidcam serve` builds them
        worker = Worker(client, models, build, options)
        limit = options.max_cameras or "any number of"
        print(
            f"reidcam: worker {options.name} on {client.url} (model {models.embedder.model_id}): leases "
            f"{limit} cameras from the registry (`--log-level INFO` names each camera taken and let go)",
            file=sys.stderr,
            flush=True,
        )
        code = serve_worker(worker)
        final = worker.status()
        print(
            f"reidcam: worker {options.name} stopped: {final.published} sighting(s) published, "
            f"{final.publisher.get('dropped', 0)} dropped while the broker was away; live feed: "
            f"{final.feed.get('sent', 0)} message(s) sent, {final.feed.get('dropped', 0)} dropped",
            file=sys.stderr,
        )
        return code
    finally:
        client.close()


def serve_worker(worker: Worker, stop: threading.Event | None = None) -> int:
    """Run ``worker`` until ``stop`` is set or SIGTERM/SIGINT arrives, then stop it cleanly.

    Signal handlers are installed only on the main thread (Python's rule); they are restored after.
    """
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("worker %s: signal %d, stopping", worker.options.name, signum)
        stop.set()
        worker.wake()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.start()
        worker.run(stop)
    finally:
        worker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
