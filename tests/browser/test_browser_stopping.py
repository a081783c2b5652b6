"""Stop on a busy machine, in two tabs: both say "stopping…" at once and offer no button until
the last batch and sightings are written, then both say "stopped" (issue #13: controls answer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.testing.fakes import BusyDetector
from reidcam.testing.live import scene_cameras, serving, synthetic_config
from reidcam.testing.models import fake_models
from reidcam.web import Services

pytestmark = pytest.mark.browser


@pytest.fixture
def detector() -> BusyDetector:
    return BusyDetector(2.0)


@pytest.fixture
def app_url(tmp_path: Path, detector: BusyDetector) -> Iterator[str]:
    services = Services(models=fake_models(detector), build_cameras=scene_cameras, data_dir=tmp_path / "data")
    with serving(synthetic_config(), services) as url:
        yield url


def test_both_tabs_show_stopping_then_stopped(
    app_url: str, detector: BusyDetector, browser: Any, expect: Any
) -> None:
    first, second = browser.new_page(), browser.new_page()
    for page in (first, second):
        page.goto(app_url)
    first.click("#start")
    for page in (first, second):
        expect(page.locator("#run-state")).to_have_text("running", timeout=10_000)
    detector.busy.set()
    first.wait_for_timeout(300)  # a slow batch is in flight
    first.click("#stop")
    for page in (first, second):
        expect(page.locator("#run-state")).to_have_text("stopping…", timeout=1000)
        expect(page.locator("#start")).to_be_disabled()
        expect(page.locator("#stop")).to_be_disabled()
    for page in (first, second):
        expect(page.locator("#run-state")).to_have_text("stopped", timeout=10_000)
        expect(page.locator("#start")).to_be_enabled()
        expect(page.locator("#stop")).to_be_disabled()
