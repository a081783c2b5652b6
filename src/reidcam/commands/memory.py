"""``reidcam memory``: the identity memory service of the distributed mode (docs/scale-out.md).

The one writer of the identity memory: reads closed sightings from the broker, commits each
once, publishes the assignment. Run two for a standby: the second waits on the lease and takes
over when the first dies. SIGTERM or Ctrl-C stop it cleanly (the batch in hand is committed and
acked, the lease released).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reidcam.config import AppConfig, load_config
from reidcam.core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "memory", help="identity memory service of the distributed mode: stores the workers' sightings"
    )
    p.add_argument(
        "--broker", metavar="URL", help="NATS broker nats://HOST:PORT (else broker.url of --config)"
    )
    p.add_argument(
        "--storage-url",
        metavar="URL",
        help="the identity memory's database, postgresql+psycopg://... or sqlite:///... "
        "(else storage.url of --config, else SQLite in --data-dir)",
    )
    p.add_argument("--name", help="this instance's name, unique among instances (default memory-HOST-PID)")
    p.add_argument("--config", help="YAML config file: identity settings, reid.model, broker credentials")
    p.add_argument("--data-dir", default="reidcam-data", help="the memory's files (default ./reidcam-data)")
    p.add_argument("--model", help="ReID model id this memory holds (default reid.model of the config)")
    p.add_argument("--batch", type=int, default=32, help="sightings fetched at once (default 32)")
    p.add_argument(
        "--ack-wait-s",
        type=float,
        default=30.0,
        help="a sighting not acked within this is delivered again; set when the broker's consumer is "
        "first created (default 30)",
    )
    p.set_defaults(func=run)


def service_config(args: argparse.Namespace) -> AppConfig:
    """The config file (or defaults) with --broker, --name and --storage-url applied.

    Raises:
        ConfigError: no broker URL anywhere, or an invalid option.
    """
    data = load_config(args.config).model_dump()
    if args.broker:
        data["broker"] = {**data["broker"], "url": args.broker}
    data["broker"]["name"] = instance_name(args.name)
    if args.storage_url:
        data["storage"]["url"] = args.storage_url
    try:
        cfg = AppConfig.model_validate(data)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid option: {msg}") from exc
    if cfg.broker.url is None:
        raise ConfigError("reidcam memory needs a broker: --broker nats://HOST:PORT (or broker.url)")
    return cfg


def instance_name(name: str | None) -> str:
    return name or f"memory-{socket.gethostname()}-{os.getpid()}"


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call ``stop`` (a clean stop) instead of killing the process."""
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in handled}

    def handler(_sig: int, _frame: Any) -> None:
        stop()

    for sig in handled:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace) -> int:
    from reidcam.broker.connection import BrokerClient
    from reidcam.cluster.memory_service import LEASE_KEY, MemoryService, ServiceSettings
    from reidcam.identity.setup import open_memory

    cfg = service_config(args)
    try:
        settings = ServiceSettings(
            name=cfg.broker.name,
            model_id=args.model or cfg.reid.model,
            batch=args.batch,
            ack_wait_s=args.ack_wait_s,
            standby_poll_s=min(0.5, cfg.broker.lease_ttl_s / 10),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    memory = open_memory(cfg, Path(args.data_dir))
    try:
        with BrokerClient(cfg.broker) as client:
            service = MemoryService(client, memory, settings)
            print(
                f"reidcam: memory service {settings.name} on {client.url} (model {settings.model_id}); "
                f"writes while it holds the lease {LEASE_KEY!r}, else stands by",
                file=sys.stderr,
                flush=True,
            )
            with stop_on_signals(service.stop):
                stats = service.run()
    finally:
        memory.close()
    print(
        f"reidcam: memory service {settings.name} stopped: {stats.stored} stored, {stats.duplicates} "
        f"duplicates, {stats.rejected} rejected, {stats.failed} dropped",
        file=sys.stderr,
    )
    return 0
