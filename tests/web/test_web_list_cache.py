"""Polled lists are built once for every client asking within ``ttl_s``; a user's change is never late."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import Frame
from reidcam.web.controller import Controller
from reidcam.web.listcache import ListCache

IMG = np.full((120, 160, 3), 90, np.uint8)


def _person(i: int, track: int) -> FrameResult:
    crop = np.full((80, 30, 3), 200, np.uint8)
    obs = Observation(0, np.array([10, 10, 40, 90], np.float32), 0.9, track, crop, True, "", None)
    return FrameResult(Frame("cam0", i, IMG, 1000.0 + i), (obs,))


def _cache(client: TestClient) -> ListCache:
    cache: ListCache = client.app.state.list_cache  # type: ignore[attr-defined]
    return cache


def test_twenty_polls_build_the_gallery_once(client: TestClient) -> None:
    cache = _cache(client)
    first = client.get("/api/gallery?limit=60")
    misses = cache.misses
    answers = [client.get("/api/gallery?limit=60") for _ in range(19)]
    assert cache.misses == misses and cache.hits >= 19
    assert all(a.status_code == 200 and a.content == first.content for a in answers)
    assert answers[0].headers["content-type"] == "application/json"
    client.get("/api/gallery?limit=5")  # other parameters: their own answer
    assert cache.misses == misses + 1


def test_without_detection_running_every_change_shows_at_once(client: TestClient) -> None:
    live = client.app.state.live  # type: ignore[attr-defined]
    assert client.get("/api/gallery").json()["total"] == 0
    live.on_frame(_person(0, track=1))
    assert client.get("/api/gallery").json()["total"] == 1
    live.on_frame(_person(1, track=2))
    assert client.get("/api/gallery").json()["total"] == 2
    assert client.get("/api/status").json()["gallery_cards"] == 2


def test_a_write_through_the_api_is_never_answered_with_an_older_list(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Controller, "running", property(lambda self: True))  # answers live for ttl_s
    _cache(client).ttl_s = 60.0
    assert client.get("/api/status").json()["threshold"] != 0.71
    client.get("/api/status")
    assert client.put("/api/threshold", json={"threshold": 0.71}).status_code == 200
    assert client.get("/api/status").json()["threshold"] == 0.71
    live = client.app.state.live  # type: ignore[attr-defined]
    live.on_frame(_person(0, track=1))
    client.get("/api/matches")
    assert client.delete("/api/matches").status_code == 200
    assert client.get("/api/status").json()["gallery_cards"] == 1  # rebuilt after the write


def test_while_detecting_a_list_is_at_most_ttl_late(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Controller, "running", property(lambda self: True))
    _cache(client).ttl_s = 0.3
    live = client.app.state.live  # type: ignore[attr-defined]
    assert client.get("/api/gallery").json()["total"] == 0
    live.on_frame(_person(0, track=1))
    assert client.get("/api/gallery").json()["total"] == 0  # the kept answer, younger than ttl_s
    time.sleep(0.35)
    assert client.get("/api/gallery").json()["total"] == 1
