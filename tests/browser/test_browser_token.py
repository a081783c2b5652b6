"""A server with an access token in a real browser: the token form, then the whole page works.

The page without the token is the token form (401). Typing the token opens the page and sets
the cookie; Start works, the camera streams arrive, and a request carrying nothing but the
cookie is let in.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reidcam.capture import PacedSource
from reidcam.config import AppConfig, TrackerConfig
from reidcam.match import Gallery, Matcher, MatcherSettings
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import Models
from reidcam.reid.crops import CropGate
from reidcam.testing import FakeDetector, FakeEmbedder, FakeSource, render, two_camera_scene
from reidcam.track import build_tracker
from reidcam.web import Services, begin_shutdown, create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-test-token-123"
CAMERAS = ("cam0", "cam1")


def _cameras() -> list[CameraUnit]:
    """The two synthetic cameras, paced and looping."""
    units = []
    for cam in CAMERAS:
        frames = render(two_camera_scene(), cam, 50)
        source = PacedSource(cam, lambda cam=cam, frames=frames: FakeSource(cam, frames), 30.0, True)
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        units.append(CameraUnit(cam, source, tracker, SightingBook(cam, max_missing_frames=10)))
    return units


def _services(data_dir: Path) -> Services:
    models = Models(
        FakeDetector(),
        FakeEmbedder(),
        Gallery(),
        Matcher(MatcherSettings(threshold=0.8)),
        CropGate(min_height_px=20, min_width_px=10, min_aspect=1.2),
    )
    return Services(models=models, build_cameras=_cameras, data_dir=data_dir, token=TOKEN)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    config = AppConfig.model_validate({"cameras": [{"id": c, "source": f"synthetic-{c}"} for c in CAMERAS]})
    app = create_app(config, _services(tmp_path / "data"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", ws="none"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}/"
    begin_shutdown(app)
    srv.should_exit = True
    thread.join(20)


def test_token_form_then_everything_works_by_cookie(server: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is needed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            assert page.goto(server).status == 401  # type: ignore[union-attr]
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            sync_api.expect(page.locator("#start")).to_be_visible(timeout=15_000)
            assert "token=" not in page.url  # the script took it out of the address bar
            page.click("#start")
            sync_api.expect(page.locator("#run-state")).to_have_text("running", timeout=15_000)
            page.wait_for_function(
                "[...document.querySelectorAll('#cameras img')].some(i => i.naturalWidth > 0)", timeout=15_000
            )
            assert page.evaluate("fetch('/api/status').then(r => r.status)") == 200  # cookie only
        finally:
            browser.close()
