"""A camera whose source cannot be used says so on its own panel, with the reason (issue #13, 2).

The chip in the header carried the reason only as a tooltip; the panel said "waiting for frames"
and showed a calibration line for a camera that will never have one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.capture import source_problems
from reidcam.config import AppConfig
from reidcam.testing.live import scene_services, serving

pytestmark = pytest.mark.browser


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    cameras = [{"id": c, "source": f"synthetic-{c}"} for c in ("cam0", "cam1")]
    cameras.append({"id": "gone", "source": str(tmp_path / "missing.mp4")})
    config = AppConfig.model_validate({"cameras": cameras})
    problems = source_problems([c for c in config.cameras if c.id == "gone"])
    with serving(config, scene_services(tmp_path / "data", source_problems=problems)) as url:
        yield url


def test_a_failed_camera_shows_why_on_its_panel_and_the_others_run(
    app_url: str, browser: Any, expect: Any
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    gone = page.locator('#cameras [data-camera-id="gone"]')
    expect(gone.locator(".state")).to_have_text("failed")
    expect(gone.locator(".seen")).to_contain_text("missing.mp4")
    expect(gone.locator(".seen")).to_contain_text("does not exist")
    assert gone.locator(".seen").get_attribute("role") == "alert"
    page.click("#start")
    expect(page.locator('#cameras [data-camera-id="cam0"] .state')).to_have_text("live", timeout=15_000)
    expect(gone.locator(".state")).to_have_text("failed")
    expect(gone.locator(".seen")).to_contain_text("does not exist")
    expect(gone.locator(".calib")).to_be_hidden()
    page.wait_for_timeout(1500)  # a few status polls and calibration refreshes later, still so
    expect(gone.locator(".calib")).to_be_hidden()
    expect(gone.locator(".seen")).to_contain_text("does not exist")
