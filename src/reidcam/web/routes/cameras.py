"""Cameras: list and health, the newest frame, and a live MJPEG stream with overlays."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import RootModel

from reidcam.web.controller import Controller
from reidcam.web.listcache import cached_list
from reidcam.web.overlay import placeholder_jpeg
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import CameraOut, Error

router = APIRouter(prefix="/cameras", tags=["cameras"])
CameraList = RootModel[list[CameraOut]]
Ctrl = Annotated[Controller, Depends(controller)]
BOUNDARY = "reidcamframe"
JPEG = {"description": "JPEG image", "content": {"image/jpeg": {}}}
UNKNOWN: dict[int | str, dict[str, object]] = {404: {"model": Error, "description": "no such camera"}}


def _known(ctrl: Controller, camera_id: str) -> str:
    if camera_id not in ctrl.camera_ids():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}; see GET /api/cameras")
    return camera_id


@router.get("", response_model=list[CameraOut])
async def list_cameras(request: Request, ctrl: Ctrl) -> Response:
    """Every configured camera with its health: state, fps, last frame age, reconnects."""
    return cached_list(request, lambda: CameraList(ctrl.cameras()))


@router.get("/{camera_id}", response_model=CameraOut, responses=UNKNOWN)
async def get_camera(camera_id: str, ctrl: Ctrl) -> CameraOut:
    _known(ctrl, camera_id)
    return next(c for c in ctrl.cameras() if c.camera_id == camera_id)


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={200: JPEG, **UNKNOWN, 503: {"model": Error, "description": "no frame yet"}},
)
def snapshot(camera_id: str, ctrl: Ctrl) -> Response:
    """The newest processed frame with boxes drawn; 503 before the first frame."""
    got = ctrl.live.jpeg(_known(ctrl, camera_id))
    if got is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"no frame from camera {camera_id!r} yet; start detection first",
            headers={"Retry-After": "1"},
        )
    return Response(got[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})


#: Longest wait for a frame before the stream looks whether its client is still there (and
#: sends a placeholder while the camera has none).
IDLE_WAIT_S = 1.0
#: Frames a stream may send back to back after a pause: with a budget of one, a camera a little
#: faster than the asked ``fps`` would be shown at half its rate (every other frame arrives
#: just too early); two keep the average at ``fps``.
BURST = 2.0


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


async def _frames(
    request: Request, ctrl: Controller, camera_id: str, fps: float, max_frames: int
) -> AsyncIterator[bytes]:
    """New frames as they come, at most ``fps`` a second; a placeholder while there are none.

    Woken by the camera's next frame (``LiveState.frames``), not by a timer of its own, so
    every viewer of a camera sends in the same event-loop turn. Ends when the client goes,
    after ``max_frames`` (if > 0), or when the server shuts down.
    """
    live, signal = ctrl.live, ctrl.live.frames
    last_seq, sent, last_placeholder = -1, 0, 0.0
    credit, credit_at = BURST, time.monotonic()
    signal.watching(+1)
    try:
        while not live.shutting_down.is_set():
            now = time.monotonic()
            credit, credit_at = min(BURST, credit + (now - credit_at) * fps), now
            seq = live.frame_seq(camera_id)
            part = None
            if seq > 0 and seq != last_seq:
                if credit < 1.0:  # over the asked rate: this frame, or a newer one, once allowed
                    await signal.wait(camera_id, (1.0 - credit) / fps)
                    continue
                got = live.cached_jpeg(camera_id) or await live.encoder.jpeg(camera_id)
                if got is not None:
                    credit -= 1.0
                    last_seq, part = got[0], _part(got[1])
            elif seq == 0 and now - last_placeholder > 1.0:
                last_placeholder = now
                text = f"{camera_id}: waiting for frames" if ctrl.running else f"{camera_id}: stopped"
                part = _part(await run_in_threadpool(placeholder_jpeg, text))
            if part is not None:
                yield part
                sent += 1
                if 0 < max_frames <= sent:
                    return
                continue  # a frame may have come while this one was sent
            # Starlette ends the stream when the client goes; asking ourselves costs a receive,
            # so only when no frame came for a while.
            if not await signal.wait(camera_id, IDLE_WAIT_S) and await request.is_disconnected():
                return
    finally:
        signal.watching(-1)


@router.get(
    "/{camera_id}/stream.mjpg",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}, **UNKNOWN},
)
def stream(
    camera_id: str,
    request: Request,
    ctrl: Ctrl,
    fps: Annotated[float, Query(gt=0, le=30, description="most frames per second to send")] = 10.0,
    max_frames: Annotated[int, Query(ge=0, description="end after this many frames (0: never)")] = 0,
) -> StreamingResponse:
    """Live view for an ``<img>``: multipart/x-mixed-replace JPEGs with the overlays."""
    _known(ctrl, camera_id)
    return StreamingResponse(
        _frames(request, ctrl, camera_id, fps, max_frames),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
