"""The camera panel shows a faulting camera: its state chip and the reconnect count as text.

A real MJPEG camera server on 127.0.0.1 is switched off while the page watches; fake models
and a synthetic healthy camera behind a real uvicorn server; the real page in headless
Chromium (the Debian ``chromium`` package).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.capture import StreamSource
from reidcam.pipeline.camera import CameraUnit
from reidcam.testing.live import (
    camera_unit,
    scene_cameras,
    scene_services,
    serving,
    synthetic_config,
)
from support.mjpeg_server import MjpegServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


@pytest.fixture
def camera() -> Iterator[MjpegServer]:
    srv = MjpegServer(fps=15.0)
    try:
        yield srv.start()
    finally:
        srv.close()


@pytest.fixture
def app_url(tmp_path: Path, camera: MjpegServer) -> Iterator[str]:
    """A healthy synthetic camera ``cam0`` and the MJPEG server camera ``ipcam``."""

    def build() -> list[CameraUnit]:
        (healthy,) = scene_cameras(fps=20.0, cameras=["cam0"])
        ip = StreamSource(
            "ipcam", camera.url, reconnect_backoff_s=0.05, reconnect_backoff_max_s=0.2, read_timeout_s=1.0
        )
        return [healthy, camera_unit("ipcam", ip)]

    config = synthetic_config({"cam0": "synthetic-cam0", "ipcam": camera.url})
    with serving(config, scene_services(tmp_path / "data", build_cameras=build)) as url:
        yield url


CHIP_COLOURS_JS = """states => states.map(s => {
  const c = document.createElement('span');
  c.className = 'chip'; c.dataset.state = s; document.body.append(c);
  const st = getComputedStyle(c); const key = st.backgroundColor + '|' + st.boxShadow;
  c.remove(); return key;
})"""


def test_panel_shows_reconnecting_state_and_reconnect_count(
    app_url: str, camera: MjpegServer, browser: Any, expect: Any
) -> None:
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
