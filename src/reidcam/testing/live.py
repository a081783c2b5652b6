"""A real server on the synthetic scene, for browser tests: uvicorn on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from reidcam.capture import FailedSource, FrameSource, PacedSource, open_source, source_problem
from reidcam.config import AppConfig, CameraConfig, TrackerConfig
from reidcam.core.errors import SourceError
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.testing.fakes import FakeSource
from reidcam.testing.models import fake_models
from reidcam.testing.scene import render, two_camera_scene
from reidcam.track import build_tracker
from reidcam.web import Services, begin_shutdown, create_app
from reidcam.web.server import Server

CAMERAS = ("cam0", "cam1")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # headless Chromium on a machine with no network beyond loopback
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


def camera_unit(camera_id: str, source: FrameSource) -> CameraUnit:
    tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
    return CameraUnit(camera_id, source, tracker, SightingBook(camera_id, max_missing_frames=10))


def scene_cameras(fps: float = 30.0, cameras: Sequence[str] = CAMERAS) -> list[CameraUnit]:
    """The synthetic two-camera scene, paced and looping like demo cameras."""
    units = []
    for cam in cameras:
        frames = render(two_camera_scene(), cam, 50)
        source = PacedSource(cam, partial(FakeSource, cam, frames), fps, True)
        units.append(camera_unit(cam, source))
    return units


def scene_camera(cam: CameraConfig, fps: float = 30.0) -> CameraUnit:
    """A camera added through the API: ``synthetic-cam0`` / ``synthetic-cam1`` replay that camera
    of the scene; any other source is built as ``reidcam serve`` builds it (a missing file fails)."""
    scene = str(cam.source).removeprefix("synthetic-")
    if scene not in CAMERAS:
        try:
            return camera_unit(cam.id, open_source(cam))
        except SourceError as exc:
            return camera_unit(cam.id, FailedSource(cam.id, str(exc)))
    frames = render(two_camera_scene(), scene, 50)
    return camera_unit(cam.id, PacedSource(cam.id, lambda: FakeSource(cam.id, frames), fps, True))


def scene_check_source(cam: CameraConfig) -> str | None:
    """``source_problem``, except that the synthetic scene's cameras are fine."""
    return None if str(cam.source).startswith("synthetic-") else source_problem(cam)


def synthetic_config(sources: dict[str, str] | None = None) -> AppConfig:
    cams = sources or {c: f"synthetic-{c}" for c in CAMERAS}
    return AppConfig.model_validate({"cameras": [{"id": c, "source": s} for c, s in cams.items()]})


def scene_services(
    data_dir: Path, build_cameras: Callable[[], list[CameraUnit]] = scene_cameras, **kwargs: object
) -> Services:
    kwargs = {"build_camera": scene_camera, "check_source": scene_check_source, **kwargs}
    return Services(models=fake_models(), build_cameras=build_cameras, data_dir=data_dir, **kwargs)  # type: ignore[arg-type]


@contextmanager
def serving(config: AppConfig, services: Services, start_timeout_s: float = 20.0) -> Iterator[str]:
    """The app on ``http://127.0.0.1:<free port>/`` in a thread; stopped (streams ended) after."""
    import uvicorn

    app = create_app(config, services)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = Server(
        uvicorn.Config(
            app, port=port, log_level="warning", ws="websockets-sansio", ws_per_message_deflate=False
        ),
        app,
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not srv.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
        if not srv.started:
            raise RuntimeError("the test server did not start")
        yield f"http://127.0.0.1:{port}/"
    finally:
        begin_shutdown(app)
        srv.should_exit = True
        thread.join(20)
