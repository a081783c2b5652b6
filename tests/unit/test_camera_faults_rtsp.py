"""An RTSP camera that dies and comes back: a real GStreamer RTSP server on 127.0.0.1, killed
and restarted, read through OpenCV's FFmpeg by :class:`StreamSource` with the default opener.

Needs Debian packages (see :mod:`support.rtsp_server`); without them the test
skips and says which to install.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from reidcam.capture import StreamSource
from reidcam.core.status import SourceState
from reidcam.core.types import Frame
from support.rtsp_server import RtspServerProcess, rtsp_unavailable

pytestmark = pytest.mark.timeout(60)

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def rtsp_ok() -> None:
    reason = rtsp_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def rtsp_server(rtsp_ok: None) -> Iterator[RtspServerProcess]:
    server = RtspServerProcess(fps=20)
    try:
        yield server.start()
    finally:
        server.kill()


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_rtsp_server_killed_and_restarted_source_reconnects(
    rtsp_server: RtspServerProcess, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{transport}")
    src = StreamSource(
        "rtspcam",
        rtsp_server.url,
        reconnect_backoff_s=0.05,
        reconnect_backoff_max_s=0.2,
        read_timeout_s=READ_TIMEOUT_S,
    )
    frames: list[Frame | None] = []
    reader = threading.Thread(target=lambda: _read_until_none(src, frames), daemon=True)
    reader.start()
    try:
        wait_until(lambda: len(frames) >= 5, 10.0, "first frames")
        assert src.status().state is SourceState.LIVE
        assert frames[0] is not None and frames[0].image.shape == (128, 160, 3)

        rtsp_server.kill()
        wait_until(lambda: src.status().state is SourceState.RECONNECTING, READ_TIMEOUT_S + 3, "reconnecting")
        wait_until(lambda: src.reconnects >= 4, 5.0, "4 reconnect attempts")
        assert src.backoff_s == 0.2  # capped
        assert src.status().last_error is not None

        rtsp_server.start()
        n = len(frames)
        wait_until(lambda: len(frames) >= n + 5, 3 * READ_TIMEOUT_S + 5, "frames after the restart")
        assert src.status().state is SourceState.LIVE
        assert src.backoff_s == 0.05
        assert None not in frames  # never ended by itself
    finally:
        src.close()
        reader.join(READ_TIMEOUT_S + 3)
    assert not reader.is_alive() and frames[-1] is None


def _read_until_none(src: StreamSource, out: list[Frame | None]) -> None:
    while (frame := src.read()) is not None:
        out.append(frame)
    out.append(None)
