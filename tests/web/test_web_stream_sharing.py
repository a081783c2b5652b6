"""Many viewers cost the server work once per frame or event, not once per viewer (issue #5 load)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import Frame
from reidcam.web import hub as hub_module
from reidcam.web import state
from reidcam.web.hub import EventHub, Message
from reidcam.web.routes.events import batch
from reidcam.web.state import LiveState

IMG = np.full((240, 320, 3), 60, np.uint8)


def _result(i: int, cam: str = "cam0") -> FrameResult:
    obs = Observation(0, np.array([10, 10, 60, 150], np.float32), 0.9, 1, None, True, "", None)
    return FrameResult(Frame(cam, i, IMG, 1000.0 + i), (obs,))


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts every overlay+JPEG encoding; each one is slow, as on a busy 2-core machine."""
    calls: list[str] = []
    real = state.frame_jpeg

    def slow(*args: object, **kwargs: object) -> bytes:
        calls.append(threading.current_thread().name)
        time.sleep(0.05)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(state, "frame_jpeg", slow)
    return calls


def _watch(live: LiveState, viewers: int) -> list[tuple[int, bytes] | None]:
    got: list[tuple[int, bytes] | None] = [None] * viewers
    start = threading.Barrier(viewers)

    def view(i: int) -> None:
        start.wait()
        got[i] = live.jpeg("cam0")

    threads = [threading.Thread(target=view, args=(i,)) for i in range(viewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return got


def test_twenty_viewers_of_a_new_frame_share_one_encoding(tmp_path: Path, encodes: list[str]) -> None:
    live = LiveState(tmp_path, EventHub())
    live.on_frame(_result(0))
    got = _watch(live, 20)
    assert len(encodes) == 1
    assert all(g is not None and g == got[0] for g in got) and got[0][1][:2] == b"\xff\xd8"  # type: ignore[index]
    live.on_frame(_result(1))
    again = _watch(live, 20)
    assert len(encodes) == 2 and again[0] is not None and again[0][0] == 2 and again[0] != got[0]


def test_cameras_do_not_wait_for_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    both = threading.Barrier(2, timeout=5)  # broken unless the two encodings run at the same time
    real = state.frame_jpeg

    def meet(*args: object, **kwargs: object) -> bytes:
        both.wait()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(state, "frame_jpeg", meet)
    live = LiveState(tmp_path, EventHub())
    live.on_frame(_result(0, "cam0"))
    live.on_frame(_result(0, "cam1"))
    got: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda c=cam: got.update({c: live.jpeg(c)})) for cam in ("cam0", "cam1")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not both.broken and got["cam0"] is not None and got["cam1"] is not None


def test_a_frame_already_encoded_is_served_without_a_worker_thread(
    tmp_path: Path, encodes: list[str]
) -> None:
    live = LiveState(tmp_path, EventHub())
    assert live.cached_jpeg("cam0") is None
    live.on_frame(_result(0))
    assert live.cached_jpeg("cam0") is None  # not encoded yet: a stream must go to a worker
    encoded = live.jpeg("cam0")
    assert live.cached_jpeg("cam0") == encoded and len(encodes) == 1
    live.on_frame(_result(1))
    assert live.cached_jpeg("cam0") is None  # a newer frame is never answered with the old JPEG


def test_an_event_is_serialized_once_for_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    dumps: list[object] = []
    real = hub_module.json.dumps
    monkeypatch.setattr(hub_module.json, "dumps", lambda obj: dumps.append(obj) or real(obj))

    async def fan_out() -> list[Message | None]:
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        queues = [hub.subscribe() for _ in range(20)]
        hub.publish({"type": "card", "card": {"card_id": "c1"}})
        await asyncio.sleep(0.05)
        return [q.get_nowait() for q in queues]

    got = asyncio.run(fan_out())
    assert len(dumps) == 1
    assert all(m is got[0] for m in got)
    data = '{"type": "card", "card": {"card_id": "c1"}}'
    assert got[0] == Message(data, f"event: card\ndata: {data}\n\n")


def test_queued_events_go_out_in_one_write_and_the_end_is_kept() -> None:
    def msg(name: str) -> Message:
        return Message(name, f"{name}\n\n")

    async def drain() -> tuple[tuple[list[Message], bool], tuple[list[Message], bool]]:
        q: asyncio.Queue[Message | None] = asyncio.Queue()
        for m in (msg("b"), msg("c"), None, msg("d")):
            q.put_nowait(m)
        first = batch(q, msg("a"))
        return first, batch(q, msg("x"))

    (chunk, end), (rest, rest_end) = asyncio.run(drain())
    assert [m.data for m in chunk] == ["a", "b", "c"] and end is True
    assert [m.data for m in rest] == ["x", "d"] and rest_end is False
