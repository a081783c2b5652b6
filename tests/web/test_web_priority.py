"""With web_nice set, the server's threads give way and detection keeps the normal priority."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from web_support import fake_config

from reidcam.runtime.priority import ThreadLauncher, thread_nice
from reidcam.web import Services, create_app

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def _nice_of(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def test_detection_threads_keep_their_priority(make_services: Callable[..., Services]) -> None:
    base = thread_nice()
    launcher = ThreadLauncher()
    services = make_services(launcher=launcher, web_nice=7)
    try:
        with TestClient(create_app(fake_config(), services)) as client:
            assert client.post("/api/start").json()["running"] is True
            runner = client.app.state.controller._runner  # type: ignore[attr-defined]
            handler_nice = _handler_nice(client)
            assert _nice_of(runner._background._thread.native_id) == base
            assert handler_nice == min(19, base + 7)  # the threads serving requests gave way
            client.post("/api/stop")
    finally:
        launcher.close()
    assert thread_nice() == base


def _handler_nice(client: TestClient) -> int:
    """The nice value of a thread the server runs request handlers on."""
    nices: list[int] = []
    app = client.app  # type: ignore[attr-defined]

    @app.get("/__nice")  # a probe route on this test's own app
    def probe() -> int:
        nices.append(thread_nice())
        return nices[-1]

    return int(client.get("/__nice").json())
