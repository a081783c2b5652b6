"""The gallery of person crops (cards grouped by track) and the crop images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse

from reidcam.web.controller import Controller
from reidcam.web.listcache import cached_list
from reidcam.web.routes.deps import Offset, controller
from reidcam.web.schemas import GalleryPage, card_out

router = APIRouter(tags=["gallery"])
Ctrl = Annotated[Controller, Depends(controller)]


@router.get("/gallery", response_model=GalleryPage)
async def gallery(
    request: Request,
    ctrl: Ctrl,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 60,
    camera_id: str | None = None,
) -> Response:
    """Cards newest first: one per person per camera, each with a few crops, and how many cards
    were left out past the cap and why."""

    def build() -> GalleryPage:
        live = ctrl.live
        total, cards = live.cards.page(offset, limit, camera_id)
        out = [card_out(c, [r for r in map(live.crops.get, c.crop_ids) if r is not None]) for c in cards]
        left_out = live.cards.left_out_counts()
        return GalleryPage(total=total, offset=offset, limit=limit, cards=out, left_out=left_out)

    return cached_list(request, build)


@router.get(
    "/crops/{crop_id}.jpg",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "unknown crop id"}},
)
def crop_image(crop_id: str, ctrl: Ctrl) -> FileResponse:
    """A saved crop by its id (ids come from the gallery, matches and query lists)."""
    path = ctrl.live.crops.path(crop_id)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no crop {crop_id!r}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
