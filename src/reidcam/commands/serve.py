"""``reidcam serve``: the live web app (cameras, gallery, query selection, matches).

Binds 127.0.0.1 by default. Any other address makes the cameras reachable from
the network, so it needs an access token (``$REIDCAM_TOKEN`` or ``--token-file``)
and refuses to start without one.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from reidcam.capture import source_problems
from reidcam.commands.options import add_run_args, config_from_args
from reidcam.config import AppConfig
from reidcam.core.errors import ConfigError

if TYPE_CHECKING:
    from reidcam.broker.connection import BrokerClient

log = logging.getLogger(__name__)

TOKEN_ENV = "REIDCAM_TOKEN"
MIN_TOKEN_CHARS = 12
DEFAULT_USB_CAMERAS = ({"id": "cam0", "source": 0}, {"id": "cam1", "source": 1})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="web app: live cameras, person gallery, query selection, matches")
    p.add_argument(
        "--data-dir", default="reidcam-data", help="where everything is written (default ./reidcam-data)"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--token-file", help=f"file holding the access token (else ${TOKEN_ENV}); required off loopback"
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frames per second taken from file cameras: a video plays at its own rate and skips frames "
        "to meet a lower --fps (never slow motion); image folders play at --fps (default 5/s); 0: unpaced",
    )
    p.add_argument(
        "--no-loop", action="store_true", help="play video/image-folder cameras once, not in a loop"
    )
    p.add_argument(
        "--start", action="store_true", help="start detection at once (else press Start in the UI)"
    )
    p.add_argument("--threshold", type=float, help="initial similarity threshold (default: the model's)")
    p.add_argument(
        "--calibration",
        help="calibration.json of `reidcam calibrate` for this ReID model (its threshold is the default)",
    )
    p.add_argument(
        "--broker",
        help="distributed mode: NATS URL nats://HOST:PORT; the page shows the cameras the workers run "
        "(the registry's) and writes cameras, threshold and queries to the broker (else broker.url)",
    )
    p.add_argument(
        "--storage-url",
        help="identity memory database, e.g. postgresql+psycopg://USER@HOST/DB (else storage.url, SQLite "
        "in --data-dir); in the distributed mode, the memory service's",
    )
    add_run_args(p)
    p.set_defaults(func=run)


def _with_default_cameras(cfg: AppConfig) -> AppConfig:
    """No camera in the config or on the command line: the brief's two USB cameras."""
    if cfg.cameras:
        return cfg
    return AppConfig.model_validate({**cfg.model_dump(), "cameras": list(DEFAULT_USB_CAMERAS)})


def resolve_token(args: argparse.Namespace, host: str, configured: str | None = None) -> str | None:
    """The access token from --token-file, else the config's ``web.token`` (``configured``), else
    $REIDCAM_TOKEN; required unless ``host`` is loopback.

    Raises:
        ConfigError: no usable token for a non-loopback host, or an unreadable token file.
    """
    from reidcam.web.security import is_loopback

    token = None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}") from exc
    elif configured is not None:
        token = configured.strip()
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    token = token or None
    if is_loopback(host):
        return token
    if token is None or len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"--host {host} makes the cameras reachable from the network: set {TOKEN_ENV} (or --token-file, "
            f"or web.token in the config) "
            f"to a secret of at least {MIN_TOKEN_CHARS} characters, or bind 127.0.0.1"
        )
    return token


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); try --port") from exc


def report_source_problems(cfg: AppConfig) -> dict[str, str]:
    """Say on the terminal which cameras cannot be used, before the models load; they fail alone."""
    problems = source_problems(list(cfg.cameras))
    for camera_id, why in problems.items():
        print(
            f"reidcam: {why} (camera {camera_id!r} is shown as failed; the other cameras run)",
            file=sys.stderr,
        )
    return problems


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from reidcam.runtime.allocator import tune_malloc
    from reidcam.web import begin_shutdown, build_services, create_app
    from reidcam.web.security import is_loopback, loopback_hosts
    from reidcam.web.server import Server

    tune_malloc()  # before any camera or inference thread: a server runs for weeks
    cfg = config_from_args(args)
    distributed = cfg.broker.url is not None
    if not distributed:
        cfg = _with_default_cameras(cfg)
    elif cfg.cameras:
        print("reidcam: distributed mode: the cameras are the broker's registry (reidcam cameras add, "
              "or the page); the config's cameras are not run here", file=sys.stderr)  # fmt: skip
    configured = cfg.web.token.get_secret_value() if cfg.web.token is not None else None
    token = resolve_token(args, args.host, configured)
    if args.fps is not None and args.fps < 0:
        raise ConfigError("--fps must be >= 0 (0 plays file cameras as fast as they decode)")
    _check_port_free(args.host, args.port)
    problems = {} if distributed else report_source_problems(cfg)
    broker = _connect(cfg) if distributed else None  # unreachable: one error line, before the models
    log.info("loading models")
    services = build_services(
        cfg,
        Path(args.data_dir),
        source_problems=problems,
        token=token,
        fps=args.fps,
        loop=not args.no_loop,
        autostart=args.start,
        allowed_hosts=loopback_hosts(args.port) if is_loopback(args.host) else None,
    )
    services.broker = broker
    app = create_app(cfg, services)

    class _Server(Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            begin_shutdown(app)  # end MJPEG/event streams so shutdown never waits on a browser tab
            super().handle_exit(sig, frame)

    level = args.log_level.lower()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=level,
        access_log=token is None,  # streams carry ?token=...: keep it out of the access log
        # The page's one WebSocket (/api/live); its JPEGs do not compress, so no per-message deflate.
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    hint = f" (add ?token=<your {TOKEN_ENV}>)" if token else ""
    print(f"reidcam: open http://{shown}:{args.port}/{hint}; data in {args.data_dir}", file=sys.stderr)
    try:
        _Server(config, app).run()
    finally:
        if services.memory is not None:
            services.memory.close()
        if broker is not None:
            broker.close()
    return 0


def _connect(cfg: AppConfig) -> BrokerClient:
    """The broker client of the distributed mode (``BrokerUnavailableError`` after its attempts)."""
    from reidcam.broker.connection import BrokerClient

    return BrokerClient(cfg.broker).connect()
