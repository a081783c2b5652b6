"""The camera panel shows a faulting camera: its state chip and the reconnect count as text.

A real MJPEG camera server on 127.0.0.1 is switched off while the page watches; fake models
and a synthetic healthy camera behind a real uvicorn server; the real page in headless
Chromium (the Debian ``chromium`` package).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reidcam.capture import PacedSource, StreamSource
from reidcam.config import AppConfig, TrackerConfig
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.testing.mjpeg_server import MjpegServer
from reidcam.testing.models import fake_models
from reidcam.track import build_tracker
from reidcam.web import Services, create_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]
CHROMIUM = Path("/usr/bin/chromium")


def _unit(camera_id: str, source: object) -> CameraUnit:
    tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
    return CameraUnit(camera_id, source, tracker, SightingBook(camera_id))  # type: ignore[arg-type]


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    srv = MjpegServer(fps=15.0)
    try:
        yield srv.start()
    finally:
        srv.close()


@pytest.fixture
def app_url(tmp_path: Path, camera: MjpegServer) -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    frames = render(two_camera_scene(), "cam0", 50)

    def build() -> list[CameraUnit]:
        healthy = PacedSource("cam0", lambda: FakeSource("cam0", frames), 20.0, True)
        ip = StreamSource(
            "ipcam", camera.url, reconnect_backoff_s=0.05, reconnect_backoff_max_s=0.2, read_timeout_s=1.0
        )
        return [_unit("cam0", healthy), _unit("ipcam", ip)]

    models = fake_models()
    services = Services(models=models, build_cameras=build, data_dir=tmp_path / "data")
    config = AppConfig.model_validate(
        {"cameras": [{"id": "cam0", "source": "synthetic-cam0"}, {"id": "ipcam", "source": camera.url}]}
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(create_app(config, services), port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.started, "the server did not start"
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True
        thread.join(20)


CHIP_COLOURS_JS = """states => states.map(s => {
  const c = document.createElement('span');
  c.className = 'chip'; c.dataset.state = s; document.body.append(c);
  const st = getComputedStyle(c); const key = st.backgroundColor + '|' + st.boxShadow;
  c.remove(); return key;
})"""


def test_panel_shows_reconnecting_state_and_reconnect_count(app_url: str, camera: MjpegServer) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is needed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(app_url)
            page.click("#start")
            panel = page.locator('section.camera[data-camera-id="ipcam"]')
            expect(panel.locator(".state")).to_have_text("live", timeout=15_000)
            expect(panel.locator(".reconnects")).to_be_hidden()  # nothing to say yet

            camera.stop()
            expect(panel.locator(".state")).to_have_text("reconnecting", timeout=10_000)
            expect(panel).to_have_attribute("data-state", "reconnecting")
            count = panel.locator(".reconnects")
            expect(count).to_be_visible(timeout=10_000)
            expect(count).to_have_text(re.compile(r"^\d+ reconnects?$"))
            healthy = page.locator('section.camera[data-camera-id="cam0"] .state')
            expect(healthy).to_have_text("live")

            colours = page.evaluate(CHIP_COLOURS_JS, ["live", "stalled", "reconnecting", "failed"])
            assert len(set(colours)) == 4, colours  # each state styled differently

            camera.come_back()
            expect(panel.locator(".state")).to_have_text("live", timeout=10_000)
            expect(count).to_be_visible()  # the count stays once a camera has dropped out
        finally:
            browser.close()
