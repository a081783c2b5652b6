"""``reidcam cameras --broker URL list | add ID SOURCE | remove ID``: the distributed mode's camera
registry, from the command line (the page will do the same).

Workers lease what the registry holds. An entry is checked as a worker would build it before it is
written, and a source with a password in it is refused: every client of the broker can read the
registry, so a secret goes in as a ``${ENV}`` reference, expanded on the worker.
"""

from __future__ import annotations

import argparse
from typing import Any

from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraRegistry
from reidcam.capture.urls import redact_url
from reidcam.cluster.registry import registry_entry
from reidcam.config import AppConfig, load_config
from reidcam.core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cameras", help="scale-out: list, add or remove cameras in the broker's registry")
    p.add_argument("--broker", help="NATS URL nats://HOST:PORT or tls://HOST:PORT (else broker.url)")
    p.add_argument("--config", help="YAML config: broker credentials")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the registered cameras")
    add = actions.add_parser("add", help="register a camera (workers pick it up)")
    add.add_argument("camera_id")
    add.add_argument("source", help="USB index, rtsp/http URL (passwords as ${ENV}), video file or folder")
    add.add_argument("--name", help="display name")
    remove = actions.add_parser("remove", help="unregister a camera (its worker lets go of it)")
    remove.add_argument("camera_id")
    p.set_defaults(func=run)


def entry(camera_id: str, source: str, name: str | None) -> dict[str, object]:
    """The registry value of a camera, checked as a worker will read it.

    Raises:
        ConfigError: a password written into the source, or an entry a worker would refuse.
    """
    return registry_entry(camera_id, {"source": source, "name": name or None})


def run(args: argparse.Namespace) -> int:
    data = load_config(args.config).model_dump()
    if args.broker:
        data["broker"]["url"] = args.broker  # validated below: credentials in it move to the secrets
    if data["broker"].get("url") is None:
        raise ConfigError("reidcam cameras needs a broker: --broker nats://HOST:PORT or broker.url")
    try:
        broker = AppConfig.model_validate(data).broker
    except ValueError as exc:
        raise ConfigError(f"invalid option: {exc}") from exc
    value = entry(args.camera_id, args.source, args.name) if args.action == "add" else None
    with BrokerClient(broker) as client:  # unreachable: BrokerUnavailableError, exit 2
        registry = CameraRegistry(client).open()
        if args.action == "list":
            print(_table(registry.cameras()))
        elif value is not None:
            registry.put(args.camera_id, value)
            print(f"camera {args.camera_id!r} registered: {redact_url(args.source)}")
        else:
            if args.camera_id not in registry.cameras():
                raise ConfigError(f"no camera {args.camera_id!r} in the registry")
            registry.remove(args.camera_id)
            print(f"camera {args.camera_id!r} removed")
    return 0


def _table(cameras: dict[str, dict[str, Any]]) -> str:
    if not cameras:
        return "no cameras registered"
    rows = []
    for cid, value in sorted(cameras.items()):
        rows.append(f"{cid}\t{redact_url(str(value.get('source', '')))}\t{value.get('name') or ''}")
    return "\n".join(rows)
