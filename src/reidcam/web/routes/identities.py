"""The identity memory: people over all cameras and time, their sightings, feedback, photo search.

Every id in a URL or body is checked against its strict pattern (422 otherwise); crops are
served by sighting or identity id, never by a path from the client. Without a memory
(``Services.memory`` is None) every route here answers 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from reidcam.identity import IdentityMemory
from reidcam.reid.enroll import pick_person
from reidcam.storage.db import StorageError
from reidcam.web.controller import Controller
from reidcam.web.identity_schemas import (
    IDENTITY_ID,
    SIGHTING_ID,
    AssignIn,
    AssignmentOut,
    IdentitiesPage,
    IdentityDeleted,
    IdentityOut,
    IdentityPatchIn,
    MergeIn,
    SearchOut,
    SightingOut,
    TimelineOut,
    assignment_out,
    hit_out,
    identity_out,
    sighting_out,
)
from reidcam.web.routes.deps import EpochS, Offset, controller
from reidcam.web.schemas import Error
from reidcam.web.uploads import decode_upload, read_upload, upload_openapi

router = APIRouter(tags=["identities"])
Ctrl = Annotated[Controller, Depends(controller)]
IdentityId = Annotated[str, Path(pattern=IDENTITY_ID, description="idn_ and 20 hex digits")]
SightingId = Annotated[str, Path(pattern=SIGHTING_ID, description="sig_ and 20 hex digits")]
MAX_K = 100
_JPEG: dict[int | str, dict[str, object]] = {200: {"content": {"image/jpeg": {}}}, 404: {"model": Error}}
_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Error},
    409: {"model": Error},
    503: {"model": Error},
}


async def memory(request: Request) -> IdentityMemory:
    m: IdentityMemory | None = request.app.state.controller.memory
    if m is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the identity memory is off on this server (started without a database)",
        )
    return m


Memory = Annotated[IdentityMemory, Depends(memory)]


@contextmanager
def _errors() -> Iterator[None]:
    """The memory's LookupError is a 404; a refused change (merge with itself...) a 409."""
    try:
        yield
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc).strip("'\"")) from exc
    except StorageError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@contextmanager
def _changing(ctrl: Controller) -> Iterator[None]:
    """A user's change to who is who: errors answered as in :func:`_errors`, then the named
    people are synced into the live search, whose query views the change may have altered."""
    with _errors():
        yield
    ctrl.sync_memory_queries()


def _crop_file(mem: IdentityMemory, relpath: str | None) -> FilePath | None:
    """The crop file of a database row, only inside the data directory (symlinks resolved).

    A NUL byte made path resolution raise ValueError (a 500); such a row has no file.
    """
    if not relpath or "\0" in relpath:
        return None
    return mem.crop_file(relpath)


_CACHE = {"Cache-Control": "private, max-age=3600"}
APPROXIMATE = (
    "Approximate: the memory is large, so an index answered and may have missed some of this "
    "person's sightings. Narrow the time window or pick a camera for an exact search."
)


def _jpeg(mem: IdentityMemory, ctrl: Controller, relpath: str | None, what: str) -> Response:
    """The crop file of a row: this server's, else (distributed mode) a memory service's."""
    path = _crop_file(mem, relpath)
    if path is not None:
        return FileResponse(path, media_type="image/jpeg", headers=_CACHE)
    data = ctrl.stored_crop(relpath) if relpath and "\0" not in relpath else None
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no crop for {what}")
    return Response(data, media_type="image/jpeg", headers=_CACHE)


def _identity(mem: IdentityMemory, identity_id: str) -> IdentityOut:
    info = mem.get_identity(identity_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no identity {identity_id}")
    return identity_out(info)


# -- people ----------------------------------------------------------------------
@router.get("/identities", response_model=IdentitiesPage, responses=_ERRORS)
def list_identities(
    mem: Memory,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    named_only: bool = False,
) -> IdentitiesPage:
    """People the cameras have seen, most recently seen first."""
    people = mem.list_identities(limit=limit, offset=offset, named_only=named_only)
    return IdentitiesPage(
        offset=offset, limit=limit, named_only=named_only, identities=[identity_out(i) for i in people]
    )


@router.get("/identities/{identity_id}", response_model=IdentityOut, responses=_ERRORS)
def get_identity(identity_id: IdentityId, mem: Memory) -> IdentityOut:
    return _identity(mem, identity_id)


@router.patch("/identities/{identity_id}", response_model=IdentityOut, responses=_ERRORS)
def update_identity(identity_id: IdentityId, body: IdentityPatchIn, mem: Memory, ctrl: Ctrl) -> IdentityOut:
    """Rename (a name confirms the person and makes them a query) and/or replace the notes."""
    renamed = "name" in body.model_fields_set
    with _errors():
        if renamed:
            info = mem.update_identity(identity_id, name=body.name, notes=body.notes)
        else:
            info = mem.update_identity(identity_id, notes=body.notes)
    if renamed:
        ctrl.sync_memory_queries()
    return identity_out(info)


@router.delete("/identities/{identity_id}", response_model=IdentityDeleted, responses=_ERRORS)
def delete_identity(identity_id: IdentityId, mem: Memory, ctrl: Ctrl) -> IdentityDeleted:
    """Forget the person: identity, sightings, embeddings, decisions and crop files."""
    with _changing(ctrl):
        removed = mem.delete_identity(identity_id)
    return IdentityDeleted(identity_id=identity_id, files_removed=removed)


@router.get("/identities/{identity_id}/thumbnail.jpg", response_class=Response, responses=_JPEG)
def identity_thumbnail(identity_id: IdentityId, mem: Memory, ctrl: Ctrl) -> Response:
    info = mem.get_identity(identity_id)
    return _jpeg(mem, ctrl, None if info is None else info.thumbnail, identity_id)


@router.get("/identities/{identity_id}/timeline", response_model=TimelineOut, responses=_ERRORS)
def timeline(
    identity_id: IdentityId,
    mem: Memory,
    since: EpochS = None,
    until: EpochS = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> TimelineOut:
    """Where and when the person was seen, oldest first (epoch seconds)."""
    _identity(mem, identity_id)
    cams = None if camera_id is None else [camera_id]
    rows = mem.timeline(identity_id, since=since, until=until, limit=limit, camera_ids=cams)
    return TimelineOut(identity_id=identity_id, sightings=[sighting_out(s) for s in rows])


@router.post("/identities/{identity_id}/merge", response_model=IdentityOut, responses=_ERRORS)
def merge(identity_id: IdentityId, body: MergeIn, mem: Memory, ctrl: Ctrl) -> IdentityOut:
    """Both are one person: ``other_id`` is folded into this identity and disappears."""
    with _changing(ctrl):
        info = mem.merge(identity_id, body.other_id)
    return identity_out(info)


# -- sightings and feedback ----------------------------------------------------------
@router.post("/sightings/{sighting_id}/confirm", response_model=SightingOut, responses=_ERRORS)
def confirm(sighting_id: SightingId, mem: Memory, ctrl: Ctrl) -> SightingOut:
    """The sighting is rightly its identity: pin it there."""
    with _changing(ctrl):
        return sighting_out(mem.confirm(sighting_id))


@router.post("/sightings/{sighting_id}/reject", response_model=AssignmentOut, responses=_ERRORS)
def reject(sighting_id: SightingId, mem: Memory, ctrl: Ctrl) -> AssignmentOut:
    """The sighting is not its identity: it is placed anew, never back there."""
    with _changing(ctrl):
        return assignment_out(mem.reject(sighting_id))


@router.post("/sightings/{sighting_id}/split", response_model=AssignmentOut, responses=_ERRORS)
def split(sighting_id: SightingId, mem: Memory, ctrl: Ctrl) -> AssignmentOut:
    """Take the sighting out into a new identity of its own."""
    with _changing(ctrl):
        return assignment_out(mem.split(sighting_id))


@router.post("/sightings/{sighting_id}/assign", response_model=AssignmentOut, responses=_ERRORS)
def assign(sighting_id: SightingId, body: AssignIn, mem: Memory, ctrl: Ctrl) -> AssignmentOut:
    """The sighting is this person: move it there."""
    with _changing(ctrl):
        return assignment_out(mem.assign(sighting_id, body.identity_id))


@router.get("/sightings/{sighting_id}/crop.jpg", response_class=Response, responses=_JPEG)
def sighting_crop(sighting_id: SightingId, mem: Memory, ctrl: Ctrl) -> Response:
    """The sighting's best crop."""
    info = mem.get_sighting(sighting_id)
    return _jpeg(mem, ctrl, None if info is None else info.crop_path, sighting_id)


# -- search by photo ------------------------------------------------------------------
_SEARCH_BODY = upload_openapi(
    {
        "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 20},
        "camera_id": {"type": "string"},
        "since": {"type": "number", "description": "epoch seconds"},
        "until": {"type": "number", "description": "epoch seconds"},
    }
)


def _number(fields: dict[str, str], name: str, kind: type[float] | type[int]) -> float | int | None:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError as exc:
        raise HTTPException(422, f"{name} must be a number, got {raw[:32]!r}") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise HTTPException(422, f"{name} must be finite")
    return value


@router.post(
    "/search/photo",
    response_model=SearchOut,
    openapi_extra=_SEARCH_BODY,
    responses={**_ERRORS, 413: {"model": Error}, 415: {"model": Error}, 422: {"model": Error}},
)
async def search_photo(request: Request, mem: Memory, ctrl: Ctrl) -> SearchOut:
    """Past sightings most like the person in a photo, best first (a scene is cut to its largest person)."""
    up = await read_upload(request, ctrl.services.max_upload_bytes)
    fields = up.fields
    k = _number(fields, "k", int)
    k = 20 if k is None else int(k)
    if not 1 <= k <= MAX_K:
        raise HTTPException(422, f"k must be within 1..{MAX_K}")
    since, until = _number(fields, "since", float), _number(fields, "until", float)
    camera_id = (fields.get("camera_id") or "").strip()[:64] or None
    image = await run_in_threadpool(decode_upload, up.data)

    def search() -> SearchOut:
        pick = pick_person(image, ctrl.models.detector)
        found = mem.search_photo(
            pick.image,
            ctrl.models.embedder,
            k,
            camera_ids=None if camera_id is None else [camera_id],
            since=since,
            until=until,
        )
        message = pick.message if found.exact else f"{pick.message} {APPROXIMATE}".strip()
        if found.repeats:
            message += f" {found.repeats} repeat(s) of a view listed (a looping file camera) left out."
        return SearchOut(used=pick.used, box=pick.box, message=message, exact=found.exact,
                         hits=[hit_out(h) for h in found.hits])  # fmt: skip

    return await run_in_threadpool(search)
