"""Helpers for the web app tests: fake models, synthetic looping cameras, image checks."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from reidcam.capture import FailedSource, PacedSource, open_source, source_problem
from reidcam.config import AppConfig, CameraConfig, TrackerConfig
from reidcam.core.errors import SourceError
from reidcam.identity import IdentitySettings
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.track import build_tracker

#: The fake embedder separates the synthetic people well above 0.8 (see tests/storage).
IDENTITY_SETTINGS = IdentitySettings(threshold=0.8)
ALICE = (30, 30, 220)  # BGR: red; walks through cam0 then cam1
N_FRAMES = 50
CAMERAS = ("cam0", "cam1")


def scene_frames(camera_id: str) -> list[np.ndarray]:
    return render(two_camera_scene(), camera_id, N_FRAMES)


def fake_cameras(fps: float = 200.0, loop: bool = True) -> list[CameraUnit]:
    """Both synthetic cameras, replayed in a loop like a demo camera (fast, for tests)."""
    units = []
    for cam in CAMERAS:
        frames = scene_frames(cam)
        source = PacedSource(cam, lambda cam=cam, frames=frames: FakeSource(cam, frames), fps, loop)
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        units.append(CameraUnit(cam, source, tracker, SightingBook(cam, max_missing_frames=10)))
    return units


def fake_camera(cam: CameraConfig, fps: float = 200.0) -> CameraUnit:
    """A camera added through the API: ``synthetic-cam0`` / ``synthetic-cam1`` replay that camera
    of the scene; any other source is built as ``reidcam serve`` builds it (a missing file fails)."""
    tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
    scene = str(cam.source).removeprefix("synthetic-")
    if scene in CAMERAS:
        frames = scene_frames(scene)
        source: object = PacedSource(cam.id, lambda: FakeSource(cam.id, frames), fps, True)
    else:
        try:
            source = open_source(cam)
        except SourceError as exc:
            source = FailedSource(cam.id, str(exc))
    return CameraUnit(cam.id, source, tracker, SightingBook(cam.id, max_missing_frames=10))  # type: ignore[arg-type]


def fake_check_source(cam: CameraConfig) -> str | None:
    """``source_problem``, but the synthetic scene's cameras are fine."""
    return None if str(cam.source).startswith("synthetic-") else source_problem(cam)


def fake_config() -> AppConfig:
    return AppConfig.model_validate({"cameras": [{"id": c, "source": f"synthetic-{c}"} for c in CAMERAS]})


def wait_for(check: Callable[[], object], timeout_s: float = 10.0, what: str = "condition") -> object:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def median_colour(jpeg: bytes) -> tuple[int, int, int]:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return tuple(int(v) for v in np.median(img.reshape(-1, 3), axis=0))  # type: ignore[return-value]


def is_colour(jpeg: bytes, colour: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(median_colour(jpeg), colour, strict=True))


def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()
