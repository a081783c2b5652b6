"""The page shows a storage warning while crop files cannot be written, and clears it after.

Fake models and synthetic cameras behind a real uvicorn server, the real page in headless
Chromium (the Debian ``chromium`` package, never a downloaded browser). The crop folder is
blocked by a regular file (every write fails, root or not), then freed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.testing.live import scene_services, serving, synthetic_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium and a server: ~20 s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    services = scene_services(tmp_path / "data")
    with serving(synthetic_config(), services) as url:
        yield url, services.data_dir


def test_storage_warning_chip_appears_and_clears(server: tuple[str, Path], browser: Any, expect: Any) -> None:
    url, data_dir = server
    folder = data_dir / "query_images"
    shutil.rmtree(folder)
    folder.write_text("in the way")
    page = browser.new_page()
    page.goto(url)
    page.click("#start")
    chip = page.locator("#storage-state")
    expect(chip).to_be_visible(timeout=15_000)
    expect(chip).to_contain_text("crops not saved")
    assert "query_images" in (chip.get_attribute("title") or "")
    folder.unlink()
    folder.mkdir()
    expect(chip).to_have_count(0, timeout=15_000)
    expect(page.locator("#run-state")).to_have_text("running")
