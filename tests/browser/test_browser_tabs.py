"""Eight cameras in one tab, then three tabs at once: the controls answer within a second in
each tab and every tab shows the same state (issue #13: a second tab froze both).

Chromium allows 6 HTTP connections per server for all its tabs; a page holding one MJPEG
stream per camera and an event stream left its buttons queued behind them. The page now holds
one WebSocket. Fake models and the synthetic scene (cameras 2-7 replay cameras 0 and 1) behind a
real uvicorn server, the real page in headless Chromium (the Debian package).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.capture import PacedSource
from reidcam.pipeline.camera import CameraUnit
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.testing.live import CAMERAS, camera_unit, scene_services, serving, synthetic_config

# Once slow: inside the full suite a threshold step showed late in another tab (0.81 where 0.82 was
# set). It was a lost update, not load: a tab whose own edit was under a second old dropped the other
# tab's threshold event. The page now keeps that event and applies it when the slider is free.
pytestmark = [pytest.mark.browser]

N_CAMERAS = 8
ANSWER_S = 1.0  # what "the controls answer" means
IDS = [f"cam{i}" for i in range(N_CAMERAS)]
FRAMES_SHOWN_JS = """(ids) => ids.every(id => {
  const img = document.querySelector(`[data-camera-id="${id}"] img.stream`);
  return img && Number(img.dataset.frames || 0) >= 2 && img.naturalWidth > 0;
})"""


def _eight_cameras() -> Callable[[], list[CameraUnit]]:
    scenes = {cam: render(two_camera_scene(), cam, 50) for cam in CAMERAS}

    def build() -> list[CameraUnit]:
        units = []
        for i, cam in enumerate(IDS):
            frames = scenes[CAMERAS[i % 2]]
            source = PacedSource(cam, lambda cam=cam, frames=frames: FakeSource(cam, frames), 8.0, True)
            units.append(camera_unit(cam, source))
        return units

    return build


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    config = synthetic_config({cam: f"synthetic-{cam}" for cam in IDS})
    build = _eight_cameras()
    build()  # imports the tracker once, as `reidcam serve` has before its page opens: Start is timed
    with serving(config, scene_services(tmp_path / "data", build)) as url:
        yield url


def _timed(page: Any, path: str, action: Callable[[], None]) -> float:
    """Seconds from ``action`` (a click, a key) to the answer of the request to ``path``."""
    t0 = time.monotonic()
    with page.expect_response(lambda r: path in r.url and r.request.method != "GET", timeout=10_000) as got:
        action()
    assert got.value.ok, f"{path}: HTTP {got.value.status}"
    return time.monotonic() - t0


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(url)
    page.wait_for_function(FRAMES_SHOWN_JS, arg=IDS, timeout=20_000)  # every camera's picture
    return page


def _all_show(expect: Any, pages: list[Any], run_state: str, threshold: str) -> None:
    for page in pages:
        expect(page.locator("#run-state")).to_have_text(run_state, timeout=ANSWER_S * 1000)
        expect(page.locator("#threshold-value")).to_have_text(threshold, timeout=ANSWER_S * 1000)
        expect(page.locator("#start")).to_be_enabled(enabled=run_state != "running", timeout=ANSWER_S * 1000)
        expect(page.locator("#stop")).to_be_enabled(enabled=run_state == "running", timeout=ANSWER_S * 1000)


def _step_threshold(page: Any, key: str) -> float:
    page.focus("#threshold")
    return _timed(page, "/api/threshold", lambda: page.keyboard.press(key))


def test_eight_cameras_one_tab_then_three_tabs(app_url: str, browser: Any, expect: Any) -> None:
    first = _open(browser, app_url)
    assert first.locator("#cameras .camera").count() == N_CAMERAS
    # The page's live pictures come over one WebSocket, never a connection per camera.
    streams = first.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert not [u for u in streams if "stream.mjpg" in u or "/api/events" in u]

    t0 = float(first.locator("#threshold-value").inner_text())
    shown = [f"{t0 + 0.01 * i:.2f}" for i in range(4)]  # the threshold after 0, 1, 2, 3 steps
    answers = {"start": _timed(first, "/api/start", lambda: first.click("#start"))}
    _all_show(expect, [first], "running", shown[0])
    first.wait_for_function(FRAMES_SHOWN_JS, arg=IDS)

    pages = [first, _open(browser, app_url), _open(browser, app_url)]
    _all_show(expect, pages, "running", shown[0])
    for i, page in enumerate(pages):  # each tab steps the threshold; every tab follows
        answers[f"threshold tab {i + 1}"] = _step_threshold(page, "ArrowRight")
        _all_show(expect, pages, "running", shown[i + 1])

    second = pages[1]
    answers["stop tab 2"] = _timed(second, "/api/stop", lambda: second.click("#stop"))
    _all_show(expect, pages, "stopped", shown[3])
    answers["start tab 3"] = _timed(pages[2], "/api/start", lambda: pages[2].click("#start"))
    _all_show(expect, pages, "running", shown[3])
    for page in pages:  # the pictures flow in every tab
        page.evaluate("document.querySelectorAll('img.stream').forEach(i => (i.dataset.frames = 0))")
    for page in pages:
        page.wait_for_function(FRAMES_SHOWN_JS, arg=IDS, timeout=10_000)
    answers["stop tab 1"] = _timed(first, "/api/stop", lambda: first.click("#stop"))
    _all_show(expect, pages, "stopped", shown[3])
    slow = {what: round(s, 2) for what, s in answers.items() if s > ANSWER_S}
    assert not slow, f"controls answered after more than {ANSWER_S} s: {slow} (all: {answers})"
