"""A server with an access token in a real browser: the token form, then the whole page works.

The page without the token is the token form (401). Typing the token opens the page and sets
the cookie; Start works, the camera streams arrive, and a request carrying nothing but the
cookie is let in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reidcam.testing.live import CHROMIUM, CHROMIUM_ARGS, scene_services, serving, synthetic_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TOKEN = "browser-test-token-123"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serving(synthetic_config(), scene_services(tmp_path / "data", token=TOKEN)) as url:
        yield url


def test_token_form_then_everything_works_by_cookie(server: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is needed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            assert page.goto(server).status == 401  # type: ignore[union-attr]
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            sync_api.expect(page.locator("#start")).to_be_visible(timeout=15_000)
            assert "token=" not in page.url  # the script took it out of the address bar
            page.click("#start")
            sync_api.expect(page.locator("#run-state")).to_have_text("running", timeout=15_000)
            page.wait_for_function(
                "[...document.querySelectorAll('#cameras img')].some(i => i.naturalWidth > 0)", timeout=15_000
            )
            assert page.evaluate("fetch('/api/status').then(r => r.status)") == 200  # cookie only
        finally:
            browser.close()
