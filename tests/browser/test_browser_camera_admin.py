"""Add a camera in one tab: its panel (with live pictures) appears in both tabs; remove it from
the other tab: gone in both. Detection runs all along and the other cameras go on.

Fake models and the synthetic scene behind a real uvicorn server, the real page in headless
Chromium (the Debian package), two tabs of one browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.testing.live import scene_services, serving, synthetic_config

pytestmark = pytest.mark.browser

PANEL = '#cameras [data-camera-id="{}"]'
FRAMES_JS = """([id, n]) => {
  const img = document.querySelector(`#cameras [data-camera-id="${id}"] img.stream`);
  return !!img && Number(img.dataset.frames || 0) >= n && img.naturalWidth > 0;
}"""
SHOWN_S = 10_000  # ms: a change shows in every tab well within this on a loaded 2-core machine


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    with serving(synthetic_config(), scene_services(tmp_path / "data")) as url:
        yield url


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    for cam in ("cam0", "cam1"):
        page.wait_for_function(FRAMES_JS, arg=[cam, 1], timeout=SHOWN_S)
    return page


def test_a_camera_added_in_one_tab_shows_in_both_and_goes_from_both(
    app_url: str, browser: Any, expect: Any
) -> None:
    first = _open(browser, app_url)
    first.click("#start")
    expect(first.locator("#run-state")).to_have_text("running", timeout=SHOWN_S)
    second = _open(browser, app_url)
    tabs = [first, second]

    first.fill("#add-camera-id", "hall")
    first.fill("#add-camera-source", "synthetic-cam0")
    with first.expect_response(
        lambda r: r.url.endswith("/api/cameras") and r.request.method == "POST"
    ) as got:
        first.click("#add-camera-button")
    assert got.value.status == 201
    for page in tabs:
        expect(page.locator(PANEL.format("hall"))).to_be_visible(timeout=SHOWN_S)
        page.wait_for_function(FRAMES_JS, arg=["hall", 3], timeout=SHOWN_S)  # live pictures in it
        expect(page.locator(f"{PANEL.format('hall')} .state")).to_have_text("live", timeout=SHOWN_S)
        expect(page.locator("#gallery-camera option[value=hall]")).to_have_count(1)
    expect(first.locator("#add-camera-id")).to_have_value("")  # the form is ready for the next one

    second.on("dialog", lambda dialog: dialog.accept())  # the confirm of the remove button
    with second.expect_response(
        lambda r: "/api/cameras/hall" in r.url and r.request.method == "DELETE"
    ) as gone:
        second.click(f"{PANEL.format('hall')} button.remove")
    assert gone.value.status == 204
    for page in tabs:
        expect(page.locator(PANEL.format("hall"))).to_have_count(0, timeout=SHOWN_S)
        expect(page.locator("#cameras section.camera")).to_have_count(2)
        page.wait_for_function(FRAMES_JS, arg=["cam0", 3], timeout=SHOWN_S)  # the others go on
        expect(page.locator("#run-state")).to_have_text("running")


def test_a_refused_camera_says_why_and_a_cancelled_remove_keeps_it(
    app_url: str, browser: Any, expect: Any
) -> None:
    page = _open(browser, app_url)
    page.fill("#add-camera-id", "cam0")
    page.fill("#add-camera-source", "synthetic-cam1")
    page.click("#add-camera-button")
    expect(page.locator("#banner")).to_contain_text("already exists", timeout=SHOWN_S)
    page.fill("#add-camera-id", "door")
    page.fill("#add-camera-source", "ftp://admin:s3cret@10.0.0.5/x")
    page.click("#add-camera-button")
    expect(page.locator("#banner")).to_contain_text("unsupported scheme 'ftp'", timeout=SHOWN_S)
    expect(page.locator("#banner")).not_to_contain_text("s3cret")
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.click(f"{PANEL.format('cam1')} button.remove")
    page.wait_for_timeout(500)
    expect(page.locator("#cameras section.camera")).to_have_count(2)
