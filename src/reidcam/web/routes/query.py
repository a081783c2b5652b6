"""The query person: chosen from gallery crops or an uploaded photo; list and clear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from reidcam.web.controller import Controller
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import Error, QueriesOut, QueryOut, QuerySelectIn, UploadOut
from reidcam.web.uploads import decode_upload, read_upload, upload_openapi

router = APIRouter(prefix="/query", tags=["query"])
Ctrl = Annotated[Controller, Depends(controller)]

_UPLOAD_BODY = upload_openapi(
    {"label": {"type": "string", "maxLength": 64}, "replace": {"type": "boolean", "default": True}}
)


@router.get("", response_model=QueriesOut)
async def list_queries(ctrl: Ctrl) -> QueriesOut:
    return QueriesOut(queries=ctrl.query_list())


@router.post("/crops", response_model=QueryOut, responses={404: {"model": Error}})
def select_crops(body: QuerySelectIn, ctrl: Ctrl) -> QueryOut:
    """Make the person in these gallery crops (one or several views) the query."""
    return ctrl.select_crops(body.crop_ids, body.label, body.replace)


def _flag(value: str | None, default: bool = True) -> bool:
    return default if value is None else value.strip().lower() not in {"0", "false", "no", "off"}


@router.post(
    "/upload",
    response_model=UploadOut,
    openapi_extra=_UPLOAD_BODY,
    responses={413: {"model": Error}, 415: {"model": Error}},
)
async def upload(request: Request, ctrl: Ctrl) -> UploadOut:
    """Upload a photo of the person. A scene photo is cut to its largest detected person."""
    up = await read_upload(request, ctrl.services.max_upload_bytes)
    image = await run_in_threadpool(decode_upload, up.data)
    label = (up.fields.get("label") or "").strip()[:64] or None
    query, pick = await run_in_threadpool(ctrl.upload, image, label, _flag(up.fields.get("replace")))
    return UploadOut(query=query, used=pick.used, box=pick.box, message=pick.message)


@router.delete("", response_model=QueriesOut)
def clear_query(ctrl: Ctrl) -> QueriesOut:
    """Stop looking for anyone (the gallery and matches stay)."""
    ctrl.clear_query()
    return QueriesOut(queries=[])
