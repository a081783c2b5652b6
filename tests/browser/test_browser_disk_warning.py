"""The page shows a storage warning while crop files cannot be written, and clears it after.

Fake models and synthetic cameras behind a real uvicorn server, the real page in headless
Chromium (the Debian ``chromium`` package, never a downloaded browser). The crop folder is
blocked by a regular file (every write fails, root or not), then freed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reidcam.testing.live import CHROMIUM, CHROMIUM_ARGS, scene_services, serving, synthetic_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium and a server: ~20 s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    services = scene_services(tmp_path / "data")
    with serving(synthetic_config(), services) as url:
        yield url, services.data_dir


def test_storage_warning_chip_appears_and_clears(server: tuple[str, Path]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is needed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, data_dir = server
    folder = data_dir / "query_images"
    shutil.rmtree(folder)
    folder.write_text("in the way")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
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
