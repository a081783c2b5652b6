"""Stop on a busy machine: every page learns at once that detection is stopping, and the state
ends as stopped (a Stop that took seconds left the pages showing "running" with both buttons off)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from web_support import fake_config, wait_for

from reidcam.testing.fakes import BusyDetector
from reidcam.testing.models import fake_models
from reidcam.web import Services, create_app

pytestmark = pytest.mark.timeout(60)


def test_status_says_stopping_while_stop_runs_then_stopped(make_services: Callable[..., Services]) -> None:
    detector = BusyDetector(1.5)
    services = make_services(models=fake_models(detector))
    with TestClient(create_app(fake_config(), services)) as client:
        assert client.post("/api/start").json() == {"running": True, "stopping": False, "error": None}
        wait_for(lambda: all(c["frames_processed"] > 2 for c in client.get("/api/status").json()["cameras"]))
        detector.busy.set()
        time.sleep(0.2)  # a slow batch is in flight
        answers: list[dict] = []
        stopper = threading.Thread(target=lambda: answers.append(client.post("/api/stop").json()))
        stopper.start()
        seen = wait_for(
            lambda: (s := client.get("/api/status").json())["stopping"] and s, timeout_s=5, what="stopping"
        )
        assert seen["running"] is True, "stopping is a running runner's last moments"
        stopper.join(30)
        assert answers == [{"running": False, "stopping": False, "error": None}]
        final = client.get("/api/status").json()
        assert final["running"] is False and final["stopping"] is False
