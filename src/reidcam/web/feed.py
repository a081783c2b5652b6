"""One camera's live pictures for one viewer, at most ``fps`` a second.

Shared by the per-camera MJPEG stream (external viewers: VLC, ``<img>`` tags of other tools)
and the page's one WebSocket (``reidcam.web.routes.live``), so both keep what makes streaming
cheap (``reidcam.web.frames``): woken by the camera's new frame, one shared encoding per frame
for every viewer, a rate cap per viewer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable

from fastapi.concurrency import run_in_threadpool

from reidcam.web.controller import Controller
from reidcam.web.overlay import placeholder_jpeg

#: Longest wait for a frame before the feed looks whether its viewer is still there (and
#: sends a placeholder while the camera has none).
IDLE_WAIT_S = 1.0
#: Frames a feed may send back to back after a pause: with a budget of one, a camera a little
#: faster than the asked ``fps`` would be shown at half its rate (every other frame arrives
#: just too early); two keep the average at ``fps``.
BURST = 2.0
#: Seconds between two placeholders while a camera has no frame (stopped, or not yet opened).
PLACEHOLDER_EVERY_S = 1.0


def placeholder_text(ctrl: Controller, camera_id: str) -> str:
    """What a camera without a frame shows: failed (the panel says why), stopped, or waiting for
    its first frame. A failed camera said "waiting for frames" for good."""
    if ctrl.camera_failed(camera_id):
        return f"{camera_id}: failed"
    return f"{camera_id}: waiting for frames" if ctrl.running else f"{camera_id}: stopped"


async def camera_frames(
    ctrl: Controller, camera_id: str, fps: float, gone: Callable[[], Awaitable[bool]]
) -> AsyncGenerator[bytes, None]:
    """JPEGs (with overlays) of ``camera_id`` as they come, at most ``fps`` a second.

    A placeholder JPEG once a second while the camera has no frame. Ends when the server shuts
    down, when the camera is removed, or, checked only after ``IDLE_WAIT_S`` without a frame,
    when ``gone()`` says the viewer left (a disconnected viewer is usually noticed by its
    failing send first).
    """
    live, signal = ctrl.live, ctrl.live.frames
    last_seq, last_placeholder = -1, 0.0
    credit, credit_at = BURST, time.monotonic()
    signal.watching(+1)
    try:
        while not live.shutting_down.is_set() and ctrl.has_camera(camera_id):
            now = time.monotonic()
            credit, credit_at = min(BURST, credit + (now - credit_at) * fps), now
            seq = live.frame_seq(camera_id)
            jpeg = None
            if seq > 0 and seq != last_seq:
                if credit < 1.0:  # over the asked rate: this frame, or a newer one, once allowed
                    await signal.wait(camera_id, (1.0 - credit) / fps)
                    continue
                got = live.cached_jpeg(camera_id) or await live.encoder.jpeg(camera_id)
                if got is not None:
                    credit -= 1.0
                    last_seq, jpeg = got[0], got[1]
            elif seq == 0 and now - last_placeholder > PLACEHOLDER_EVERY_S:
                last_placeholder = now
                jpeg = await run_in_threadpool(placeholder_jpeg, placeholder_text(ctrl, camera_id))
            if jpeg is not None:
                yield jpeg
                continue  # a frame may have come while this one was sent
            if not await signal.wait(camera_id, IDLE_WAIT_S) and await gone():
                return
    finally:
        signal.watching(-1)
