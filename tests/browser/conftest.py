"""Headless Chromium (the Debian package) driven by Playwright, for every browser test.

Skipped, with what to install, when either is missing; the browser is closed after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reidcam.testing.live import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def browser() -> Iterator[Any]:
    """A launched ``playwright.sync_api.Browser``."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install the Debian package (apt-get install -y chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright Python package is not installed"
    )
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def expect(browser: Any) -> Any:
    """Playwright's ``expect`` (asserts that wait), once the browser is there."""
    return pytest.importorskip("playwright.sync_api").expect
