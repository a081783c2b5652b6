"""The page shows a storage warning while crop files cannot be written, and clears it after.

Fake models and synthetic cameras behind a real uvicorn server, the real page in headless
Chromium (the Debian ``chromium`` package, never a downloaded browser). The crop folder is
blocked by a regular file (every write fails, root or not), then freed.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reidcam.capture import PacedSource
from reidcam.config import AppConfig, TrackerConfig
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.track import build_tracker
from reidcam.web import Services, create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium and a server: ~20 s
CHROMIUM = Path("/usr/bin/chromium")
CAMERAS = ("cam0", "cam1")


def _cameras() -> list[CameraUnit]:
    units = []
    for cam in CAMERAS:
        frames = render(two_camera_scene(), cam, 50)
        source = PacedSource(cam, lambda cam=cam, frames=frames: FakeSource(cam, frames), 30.0, True)
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        units.append(CameraUnit(cam, source, tracker, SightingBook(cam, max_missing_frames=10)))
    return units


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    uvicorn = pytest.importorskip("uvicorn")
    models = fake_models()
    services = Services(models=models, build_cameras=_cameras, data_dir=tmp_path / "data")
    config = AppConfig.model_validate({"cameras": [{"id": c, "source": f"synthetic-{c}"} for c in CAMERAS]})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(create_app(config, services), port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}/", services.data_dir
    srv.should_exit = True
    thread.join(20)


def test_storage_warning_chip_appears_and_clears(server: tuple[str, Path]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is needed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, data_dir = server
    folder = data_dir / "query_images"
    shutil.rmtree(folder)
    folder.write_text("in the way")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(url)
            page.click("#start")
            chip = page.locator("#storage-state")
            sync_api.expect(chip).to_be_visible(timeout=15_000)
            sync_api.expect(chip).to_contain_text("crops not saved")
            assert "query_images" in (chip.get_attribute("title") or "")
            folder.unlink()
            folder.mkdir()
            sync_api.expect(chip).to_have_count(0, timeout=15_000)
            sync_api.expect(page.locator("#run-state")).to_have_text("running")
        finally:
            browser.close()
