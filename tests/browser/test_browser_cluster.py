"""The distributed page in Chromium: cameras from the registry run by a real worker, and the
cluster chip that says which part is missing, then green once every part reports in.

A real nats-server, ``reidcam serve --broker``'s app behind uvicorn, a real worker (fake models,
the synthetic scene) and a real memory service (SQLite) on threads of this process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.nats_support import NatsServer, broker_config
from broker.worker_support import MODEL, make_worker, running
from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraRegistry
from reidcam.cluster.memory_service import MemoryService, ServiceSettings
from reidcam.identity import IdentityMemory
from reidcam.testing.live import scene_services, serving, synthetic_config

pytestmark = [pytest.mark.browser, pytest.mark.broker]

FRAMES_JS = """([id, n]) => {
  const img = document.querySelector(`#cameras [data-camera-id="${id}"] img.stream`);
  return !!img && Number(img.dataset.frames || 0) >= n && img.naturalWidth > 0;
}"""
SHOWN_MS = 15_000


@pytest.fixture
def page_url(own_nats_server: NatsServer, tmp_path: Path) -> Iterator[str]:
    with BrokerClient(broker_config(own_nats_server.url)) as admin:
        registry = CameraRegistry(admin).open()
        registry.put("cam0", {"source": "synthetic-cam0", "name": "Door"})
        registry.put("cam1", {"source": "synthetic-cam1"})
    with (
        BrokerClient(broker_config(own_nats_server.url)) as web_client,
        serving(synthetic_config(), scene_services(tmp_path / "web", broker=web_client)) as url,
    ):
        yield url


def test_the_chip_names_the_missing_memory_service_then_turns_green(
    own_nats_server: NatsServer, page_url: str, browser: Any, expect: Any, tmp_path: Path
) -> None:
    with BrokerClient(broker_config(own_nats_server.url)) as wclient, running(make_worker(wclient, "w1")):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(page_url)
        for cam in ("cam0", "cam1"):  # the worker's pictures, in the registry's panels
            page.wait_for_function(FRAMES_JS, arg=[cam, 2], timeout=SHOWN_MS)
        chip = page.locator("#cluster")
        expect(chip).to_have_text("1 worker · 2/2 cameras · no active memory · 1 problem", timeout=SHOWN_MS)
        expect(chip).to_have_attribute("data-state", "failed")
        expect(page.locator("#start")).to_be_hidden()  # the workers run the cameras
        expect(page.locator("#stop")).to_be_hidden()
        expect(page.locator("#add-camera")).to_have_attribute(
            "title", re.compile("cluster's camera registry")
        )
        expect(page.locator("#cluster-panel")).to_be_hidden()
        chip.click()
        expect(page.locator("#cluster-problems li")).to_have_text(
            [
                "no memory service is running: closed sightings wait on the broker and People is not "
                "updated (start `reidcam memory`)"
            ]
        )
        expect(page.locator("#cluster-processes")).to_contain_text("worker w1: cam0, cam1")

        with (
            BrokerClient(broker_config(own_nats_server.url)) as mclient,
            IdentityMemory.open(tmp_path / "memory") as memory,
        ):
            service = MemoryService(mclient, memory, ServiceSettings(name="m1", model_id=MODEL))
            thread = threading.Thread(target=service.run, daemon=True)
            thread.start()
            try:
                expect(chip).to_have_text("1 worker · 2/2 cameras · memory m1 active", timeout=SHOWN_MS)
                expect(chip).to_have_attribute("data-state", "live")
                expect(page.locator("#cluster-problems li")).to_have_count(0)
                expect(page.locator("#cluster-processes")).to_contain_text("memory m1: active")
            finally:
                service.stop()
                thread.join(15)
    # the worker stopped cleanly (its health key deleted), the memory service too
    expect(chip).to_have_text("0 workers · 0/2 cameras · no active memory · 2 problems", timeout=SHOWN_MS)
    expect(page.locator("#cluster-problems")).to_contain_text("no worker is running")


def test_one_machine_has_no_chip(tmp_path: Path, browser: Any, expect: Any) -> None:
    with serving(synthetic_config(), scene_services(tmp_path / "data")) as url:
        page = browser.new_page()
        asked: list[int] = []
        page.on("response", lambda r: asked.append(r.status) if r.url.endswith("/api/cluster") else None)
        page.goto(url)
        page.wait_for_timeout(4000)  # more than a poll period
        assert asked == [404], "one ask, then no more polling"
        expect(page.locator("#cluster")).to_be_hidden()
        expect(page.locator("#start")).to_be_visible()
