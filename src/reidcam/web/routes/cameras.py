"""Cameras: list and health, the newest frame, and a live MJPEG stream with overlays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from reidcam.web.controller import Controller
from reidcam.web.overlay import placeholder_jpeg
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import CameraOut, Error

router = APIRouter(prefix="/cameras", tags=["cameras"])
Ctrl = Annotated[Controller, Depends(controller)]
BOUNDARY = "reidcamframe"
JPEG = {"description": "JPEG image", "content": {"image/jpeg": {}}}
UNKNOWN: dict[int | str, dict[str, object]] = {404: {"model": Error, "description": "no such camera"}}


def _known(ctrl: Controller, camera_id: str) -> str:
    if camera_id not in ctrl.camera_ids():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}; see GET /api/cameras")
    return camera_id


@router.get("", response_model=list[CameraOut])
async def list_cameras(ctrl: Ctrl) -> list[CameraOut]:
    """Every configured camera with its health: state, fps, last frame age, reconnects."""
    return ctrl.cameras()


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


DISCONNECT_CHECK_S = 1.0


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


async def _frames(
    request: Request, ctrl: Controller, camera_id: str, fps: float, max_frames: int
) -> AsyncIterator[bytes]:
    """New frames as they come, at most ``fps`` a second; a placeholder while there are none.

    Ends when the client goes, after ``max_frames`` (if > 0), or when the server shuts down.
    """
    live, interval = ctrl.live, 1.0 / fps
    last_seq, sent, last_placeholder, last_check = -1, 0, 0.0, time.monotonic()
    while not live.shutting_down.is_set():
        seq = live.frame_seq(camera_id)
        part = None
        if seq > 0 and seq != last_seq:
            got = live.cached_jpeg(camera_id) or await run_in_threadpool(live.jpeg, camera_id)
            if got is not None:
                last_seq, part = got[0], _part(got[1])
        elif seq == 0 and time.monotonic() - last_placeholder > 1.0:
            last_placeholder = time.monotonic()
            text = (
                f"{camera_id}: waiting for frames" if ctrl.runner_state().running else f"{camera_id}: stopped"
            )
            part = _part(await run_in_threadpool(placeholder_jpeg, text))
        if part is not None:
            yield part
            sent += 1
            if 0 < max_frames <= sent:
                return
        # Starlette ends the stream when the client goes; asking ourselves costs a receive per
        # wake-up on every viewer's stream, so once a second is plenty as a backstop.
        now = time.monotonic()
        if now - last_check >= DISCONNECT_CHECK_S:
            last_check = now
            if await request.is_disconnected():
                return
        await asyncio.sleep(interval)


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
