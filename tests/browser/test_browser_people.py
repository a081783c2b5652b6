"""The People panel in a real browser: split a sighting off a person, merge two people.

Fake models and the synthetic two-camera scene behind a real uvicorn server, the identity
memory on a temp SQLite, the real page in headless Chromium (the Debian package).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reidcam.core.types import Sighting, SightingKey, l2_normalize
from reidcam.identity import IdentityMemory, IdentitySettings
from reidcam.identity.topology import Link, Topology
from reidcam.testing.live import scene_services, serving, synthetic_config

pytestmark = pytest.mark.browser


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    data = tmp_path / "data"
    memory = IdentityMemory.open(data, settings=IdentitySettings(threshold=0.8))
    try:
        with serving(synthetic_config(), scene_services(data, memory=memory)) as url:
            yield url
    finally:
        memory.close()


SEEN_TWICE_JS = """() => [...document.querySelectorAll('#people .person-row')]
    .some(r => /[2-9]\\d* sightings/.test(r.textContent))"""
IDS_JS = "() => [...document.querySelectorAll('#people .person-row')].map(r => r.dataset.identityId)"


def _ids(page: object) -> set[str]:
    return set(page.evaluate(IDS_JS))  # type: ignore[attr-defined]


def test_split_a_sighting_then_merge_it_back(app_url: str, browser: Any, expect: Any) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.on("dialog", lambda d: d.accept())  # the "Merge ...?" confirmation
    page.goto(app_url)
    page.click("#start")
    expect(page.locator("#run-state")).to_have_text("running", timeout=15_000)
    # the looping scene: people appear once they leave a camera's view, some seen twice
    page.wait_for_function(SEEN_TWICE_JS, timeout=45_000)
    page.click("#stop")
    expect(page.locator("#run-state")).to_have_text("stopped", timeout=15_000)  # all written
    page.wait_for_timeout(500)
    page.evaluate("refreshPeople()")
    seen_twice = re.compile(r"[2-9]\d* sightings")
    page.locator("#people .person-row", has_text=seen_twice).first.click()
    person = page.locator("#person")
    expect(person.locator(".timeline .sighting").first).to_be_visible()
    before = person.locator(".timeline .sighting").count()
    people_before = _ids(page)

    person.locator(".timeline .sighting button.split").first.click()
    expect(page.locator("#banner")).to_contain_text("Split")
    expect(person.locator(".timeline .sighting")).to_have_count(before - 1)
    page.wait_for_function(f"() => ({IDS_JS})().length > {len(people_before)}")
    (new_person,) = _ids(page) - people_before  # the split-off sighting's own person

    # they were one person after all: merge the new person back
    person.locator("#merge-other").select_option(new_person)
    person.locator("#merge").click()
    expect(page.locator("#banner")).to_contain_text("Merged")
    expect(person.locator(".timeline .sighting")).to_have_count(before)
    page.wait_for_function(f"() => ({IDS_JS})().length === {len(people_before)}")
    assert _ids(page) == people_before


def test_a_merge_the_camera_topology_forbids_is_refused_with_the_reason(
    tmp_path: Path, browser: Any, expect: Any
) -> None:
    # cam0 <-> cam1 takes at least 30 s (cameras[].neighbours); these two were 5 s apart
    topology = Topology.from_links([Link("cam0", "cam1", 30.0, 300.0)])
    data = tmp_path / "data"
    memory = IdentityMemory.open(data, settings=IdentitySettings(threshold=0.8, topology=topology))
    now = time.time()

    def seen(camera: str, track: int, t0: float) -> str:
        vec = l2_normalize(np.random.default_rng(track).normal(size=16)).astype(np.float32)
        return memory.record_sighting(
            Sighting(SightingKey(camera, track, 0), t0, t0 + 10.0, 3, vec, "fake", None)
        ).identity_id

    a, b = seen("cam0", 1, now - 100.0), seen("cam1", 2, now - 85.0)
    try:
        with serving(synthetic_config(), scene_services(data, memory=memory)) as url:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("dialog", lambda d: d.accept())  # the "Merge ...?" confirmation
            page.goto(url)
            page.evaluate("refreshPeople()")
            page.locator(f'#people .person-row[data-identity-id="{a}"]').click()
            person = page.locator("#person")
            person.locator("#merge-other").select_option(b)
            person.locator("#merge").click()
            banner = page.locator("#banner")
            expect(banner).to_contain_text("Not merged: ")
            expect(banner).to_contain_text("cam0 -> cam1 in 5.0 s, a walk takes at least 30.0 s")
            expect(page.locator("#people .person-row")).to_have_count(2)  # still two people
    finally:
        memory.close()
