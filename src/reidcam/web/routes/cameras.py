"""Cameras: list and health, add and remove, the newest frame, and a live MJPEG stream with overlays.

The page shows every camera through its one WebSocket (``/api/live``); the per-camera MJPEG
stream is for external viewers (VLC, other tools), one connection per camera.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from pydantic import RootModel

from reidcam.pipeline.camera_set import DuplicateCamera, UnknownCamera
from reidcam.web.controller import Controller
from reidcam.web.feed import camera_frames
from reidcam.web.listcache import cached_list
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import CameraIn, CameraOut, Error

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


@router.post(
    "",
    response_model=CameraOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Error, "description": "a camera with this id exists"}},
)
def add_camera(body: CameraIn, ctrl: Ctrl) -> CameraOut:
    """Add a camera, while detection runs or not; the other cameras go on, every open page shows it.

    A source that cannot be opened (a missing file, a refused connection) is added and shown
    ``failed`` with the reason, as a configured camera is at start-up; a URL of an unknown
    scheme is refused (422). Not written to the config: a restart returns to its cameras.
    """
    try:
        return ctrl.add_camera(body.to_config())
    except DuplicateCamera as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.delete(
    "/{camera_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=UNKNOWN
)
def remove_camera(camera_id: str, ctrl: Ctrl) -> Response:
    """Remove a camera: its open sightings are closed and stored first, its reader and source are
    released; the other cameras go on, every open page drops its panel."""
    try:
        ctrl.remove_camera(camera_id)
    except UnknownCamera as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{camera_id}", response_model=CameraOut, responses=UNKNOWN)
async def get_camera(camera_id: str, ctrl: Ctrl) -> CameraOut:
    _known(ctrl, camera_id)
    return next(c for c in ctrl.cameras() if c.camera_id == camera_id)


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={200: JPEG, **UNKNOWN, 409: {"model": Error, "description": "no frame yet"}},
)
def snapshot(camera_id: str, ctrl: Ctrl) -> Response:
    """The newest processed frame with boxes drawn; 409 before the first frame (nothing is broken:
    the camera is stopped or has not delivered a frame yet)."""
    got = ctrl.snapshot(_known(ctrl, camera_id))
    if got is None:
        state = "stopped: start detection first" if not ctrl.running else "not delivered a frame yet"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"no frame from camera {camera_id!r} yet; it is {state}",
            headers={"Retry-After": "1"},
        )
    return Response(got[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


async def _frames(
    request: Request, ctrl: Controller, camera_id: str, fps: float, max_frames: int
) -> AsyncIterator[bytes]:
    """The camera's feed as multipart parts; ends after ``max_frames`` (if > 0), when the client
    goes or when the server shuts down."""
    sent = 0
    async with aclosing(camera_frames(ctrl, camera_id, fps, request.is_disconnected)) as frames:
        async for jpeg in frames:
            yield _part(jpeg)
            sent += 1
            if 0 < max_frames <= sent:
                return


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
