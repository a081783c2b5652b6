"""A server with an access token in a real browser: the token form, then the whole page works.

The page without the token is the token form (401). Typing the token opens the page and sets
the cookie; Start works, the camera streams arrive, and a request carrying nothing but the
cookie is let in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reidcam.testing.live import scene_services, serving, synthetic_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TOKEN = "browser-test-token-123"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serving(synthetic_config(), scene_services(tmp_path / "data", token=TOKEN)) as url:
        yield url


def test_token_form_then_everything_works_by_cookie(server: str, browser: Any, expect: Any) -> None:
    page = browser.new_page()
    assert page.goto(server).status == 401
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("#start")).to_be_visible(timeout=15_000)
    assert "token=" not in page.url  # the script took it out of the address bar
    page.click("#start")
    expect(page.locator("#run-state")).to_have_text("running", timeout=15_000)
    page.wait_for_function(
        "[...document.querySelectorAll('#cameras img')].some(i => i.naturalWidth > 0)", timeout=15_000
    )
    assert page.evaluate("fetch('/api/status').then(r => r.status)") == 200  # cookie only
    # The page's WebSocket carries the token as every request does: with the cookie alone too.
    page.evaluate("() => { state.token = ''; sessionStorage.clear(); state.live.close(); }")
    page.evaluate("document.querySelectorAll('img.stream').forEach(i => (i.dataset.frames = 0))")
    page.wait_for_function(
        "[...document.querySelectorAll('img.stream')].every(i => Number(i.dataset.frames) > 0)",
        timeout=15_000,
    )
    assert page.evaluate("state.live && state.live.url.includes('token=')") is False
