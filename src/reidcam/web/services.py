"""What the web app is given: loaded models, a camera factory, where to write, who may connect.

Building Services loads the models, which takes seconds; it happens in the
``serve`` command (or a test), never when a web module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from reidcam.broker.connection import BrokerClient
from reidcam.capture import source_problem
from reidcam.capture import source_problems as check_sources
from reidcam.config import AppConfig, CameraConfig
from reidcam.identity import IdentityMemory
from reidcam.identity.setup import open_memory
from reidcam.pipeline.build import build_models
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.replay import replay_camera, replay_cameras
from reidcam.pipeline.step import Models
from reidcam.runtime.priority import ThreadLauncher
from reidcam.track import build_tracker
from reidcam.web.state import LiveSettings

DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class Services:
    """Dependencies of :func:`reidcam.web.create_app`.

    Attributes:
        models: detector, embedder, query gallery and matcher shared by every camera.
        build_cameras: makes fresh camera units; called on every Start, so Start after Stop works.
        build_camera: makes the unit of one camera added through the API (``POST /api/cameras``),
            and of such a camera again on the next Start; None: cameras cannot be added (400).
        check_source: why an added camera's source cannot be used (None: it can), asked while
            detection is stopped so the camera shows ``failed`` at once, as at start-up.
        data_dir: everything the server writes goes under it (the brief's folders).
        token: required on every /api request when set (``Authorization: Bearer`` or ``?token=``).
        autostart: start detection when the server starts.
        allowed_hosts: accepted ``Host`` headers (DNS-rebinding guard on loopback); None accepts any.
        max_upload_bytes: largest query photo accepted.
        live: limits of the in-memory gallery, matches and streams.
        memory: the identity memory (people, sightings, feedback); None turns the
            /api/identities, /api/sightings and /api/search routes off (503). Whoever opens it
            closes it: the app only reads and writes it.
        source_problems: ``camera id -> why`` for cameras whose source could not be used when the
            server started; shown as ``failed`` before the first Start (the runner reports them after).
        broker: a connected broker client: the distributed mode (``reidcam serve --broker``),
            where workers run the registry's cameras and this server shows them; the caller
            closes it once the server has stopped.
        launcher, web_nice: detection's threads are started on ``launcher`` (normal priority)
            and the server's own threads run ``web_nice`` nicer (``reidcam.runtime.priority``);
            no launcher: everything at the caller's priority.
    """

    models: Models
    build_cameras: Callable[[], list[CameraUnit]]
    data_dir: Path
    build_camera: Callable[[CameraConfig], CameraUnit] | None = None
    check_source: Callable[[CameraConfig], str | None] = source_problem
    token: str | None = field(default=None, repr=False)  # a repr in a log or traceback must not show it
    autostart: bool = False
    allowed_hosts: list[str] | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    live: LiveSettings = field(default_factory=LiveSettings)
    memory: IdentityMemory | None = None
    source_problems: dict[str, str] = field(default_factory=dict)
    launcher: ThreadLauncher | None = None
    web_nice: int = 0
    broker: BrokerClient | None = None


def build_services(
    cfg: AppConfig,
    data_dir: Path,
    *,
    token: str | None = None,
    fps: float | None = None,
    loop: bool = True,
    autostart: bool = False,
    allowed_hosts: list[str] | None = None,
    memory: bool = True,
    source_problems: dict[str, str] | None = None,
) -> Services:
    """Load the models from the config; file cameras replay looping if ``loop``: videos in real
    time (``fps`` frames a second taken from them when given), image folders at ``fps`` or 5/s.

    ``source_problems``: the unusable sources found at start-up (None: look now).
    ``memory``: also open the identity memory (``cfg.storage.url``, else SQLite in ``data_dir``);
    the caller closes it (``services.memory.close()``) once the server has stopped.

    Raises:
        WeightsError, DependencyError: weights missing or a runtime not installed.
        StorageError: the identity database cannot be opened or migrated.
    """
    models = build_models(cfg, data_dir=Path(data_dir))
    # The tracker's library (Ultralytics, and PyTorch with it) takes seconds to import: do it
    # while loading, so the first Start answers at once and a broken install fails here.
    build_tracker(cfg.tracker)
    return Services(
        models=models,
        build_cameras=partial(replay_cameras, cfg, fps, loop),
        build_camera=partial(replay_camera, cfg, fps, loop),
        data_dir=Path(data_dir),
        token=token,
        autostart=autostart,
        allowed_hosts=allowed_hosts,
        live=LiveSettings(jpeg_quality=cfg.output.jpeg_quality),
        memory=open_memory(cfg, Path(data_dir)) if memory else None,
        source_problems=check_sources(list(cfg.cameras)) if source_problems is None else source_problems,
        launcher=ThreadLauncher() if cfg.performance.web_nice else None,
        web_nice=cfg.performance.web_nice,
    )
