"""Where the query people were seen (and close calls to judge): one row per sighting, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from reidcam.web.controller import Controller
from reidcam.web.listcache import cached_list
from reidcam.web.routes.deps import EpochS, Offset, controller
from reidcam.web.schemas import MatchesPage, match_out

router = APIRouter(prefix="/matches", tags=["matches"])
Ctrl = Annotated[Controller, Depends(controller)]


@router.get("", response_model=MatchesPage)
async def matches(
    request: Request,
    ctrl: Ctrl,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    camera_id: str | None = None,
    since: EpochS = None,
    until: EpochS = None,
    current_only: Annotated[bool, Query(description="only matches of the current query people")] = False,
    verdict: Annotated[
        list[Literal["match", "uncertain"]] | None,
        Query(description="which verdicts (repeat for several); default: match only"),
    ] = None,
) -> Response:
    def build() -> MatchesPage:
        query_ids = {q.query_id for q in ctrl.queries.records()} if current_only else None
        verdicts = frozenset(verdict or ["match"])
        total, rows = ctrl.live.matches.page(offset, limit, camera_id, since, until, query_ids, verdicts)
        return MatchesPage(total=total, offset=offset, limit=limit, matches=[match_out(e) for e in rows])

    return cached_list(request, build)


@router.delete("", response_model=MatchesPage)
def clear_matches(ctrl: Ctrl) -> MatchesPage:
    """Forget the match list (the saved files stay)."""
    ctrl.live.matches.clear()
    ctrl.hub.publish({"type": "matches_cleared"})
    return MatchesPage(total=0, offset=0, limit=0, matches=[])
