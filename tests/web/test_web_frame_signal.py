"""MJPEG viewers are woken by their camera's new frame, share its encoding and keep the asked rate."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np

from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import Frame
from reidcam.web.frames import FrameSignal, SharedEncoder
from reidcam.web.hub import EventHub
from reidcam.web.routes.cameras import _frames
from reidcam.web.state import LiveState

IMG = np.full((120, 160, 3), 60, np.uint8)


def _result(i: int, cam: str = "cam0") -> FrameResult:
    obs = Observation(0, np.array([10, 10, 60, 110], np.float32), 0.9, 1, None, True, "", None)
    return FrameResult(Frame(cam, i, IMG, 1000.0 + i), (obs,))


class _Request:
    async def is_disconnected(self) -> bool:
        return False


def _ctrl(live: LiveState) -> SimpleNamespace:
    return SimpleNamespace(
        live=live, running=True, camera_failed=lambda camera_id: False, has_camera=lambda camera_id: True
    )


def test_nobody_watching_costs_the_runner_no_wake_up() -> None:
    signal, loop = FrameSignal(), MagicMock()
    loop.is_closed.return_value = False
    signal.bind(loop)
    signal.notify("cam0")
    assert not loop.call_soon_threadsafe.called
    signal.watching(+1)
    signal.notify("cam0")
    assert loop.call_soon_threadsafe.call_count == 1
    signal.watching(-1)
    signal.notify("cam0")
    assert loop.call_soon_threadsafe.call_count == 1


def test_every_waiter_of_a_camera_wakes_on_its_frame_only() -> None:
    async def go() -> tuple[list[bool], list[bool], float]:
        signal = FrameSignal()
        signal.bind(asyncio.get_running_loop())
        signal.watching(+1)
        t0 = time.monotonic()
        cam0 = [asyncio.create_task(signal.wait("cam0", 5.0)) for _ in range(10)]
        cam1 = [asyncio.create_task(signal.wait("cam1", 0.3)) for _ in range(3)]
        await asyncio.sleep(0.05)
        threading.Thread(target=signal.notify, args=("cam0",)).start()  # the runner's thread
        woke = await asyncio.gather(*cam0)
        took = time.monotonic() - t0
        return woke, await asyncio.gather(*cam1), took

    woke, timed_out, took = asyncio.run(go())
    assert woke == [True] * 10 and took < 2.0
    assert timed_out == [False] * 3


def test_viewers_awaiting_one_frame_share_one_encoding(tmp_path: Path) -> None:
    calls: list[str] = []

    def encode(camera_id: str) -> tuple[int, bytes]:
        calls.append(camera_id)
        time.sleep(0.1)
        return 1, b"jpeg"

    async def go() -> list[tuple[int, bytes] | None]:
        encoder = SharedEncoder(encode)
        viewers = [asyncio.create_task(encoder.jpeg("cam0")) for _ in range(20)]
        viewers[3].cancel()  # a viewer that leaves does not cancel the others' encoding
        got = await asyncio.gather(*viewers, return_exceptions=True)
        again = await encoder.jpeg("cam0")  # a later frame is encoded anew
        return [g for g in got if not isinstance(g, BaseException)] + [again]

    got = asyncio.run(go())
    assert len(got) == 20 and all(g == (1, b"jpeg") for g in got)
    assert calls == ["cam0", "cam0"]


def test_a_stream_keeps_its_rate_when_the_camera_is_a_little_faster(tmp_path: Path) -> None:
    """Camera at 14 fps, viewer asks 10: about 10 a second, not every other frame (7)."""
    live = LiveState(tmp_path, EventHub())
    seconds, camera_fps, asked = 3.0, 14.0, 10.0

    async def go() -> tuple[int, int]:
        live.frames.bind(asyncio.get_running_loop())
        stop = threading.Event()

        def camera() -> None:
            i = 0
            while not stop.is_set():
                live.on_frame(_result(i))
                i += 1
                time.sleep(1.0 / camera_fps)

        gen = _frames(_Request(), _ctrl(live), "cam0", asked, 0)  # type: ignore[arg-type]
        first = await anext(gen)  # the placeholder or the first frame: the stream is open
        assert first.startswith(b"--reidcamframe")
        feeder = threading.Thread(target=camera)
        feeder.start()
        sent, t0 = 0, time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                await anext(gen)
                sent += 1
        finally:
            stop.set()
            feeder.join()
            await gen.aclose()
        return sent, live.frame_seq("cam0")

    sent, produced = asyncio.run(go())
    assert produced >= seconds * camera_fps * 0.6  # the feeder thread itself kept up
    assert seconds * asked * 0.8 <= sent <= seconds * asked + 3  # the budget allows a burst of two
    assert live.frames._watchers == 0  # the closed stream stopped counting as a viewer
