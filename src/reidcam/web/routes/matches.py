"""Where the query people were seen: one row per sighting, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from reidcam.web.controller import Controller
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import MatchesPage, match_out

router = APIRouter(prefix="/matches", tags=["matches"])
Ctrl = Annotated[Controller, Depends(controller)]


@router.get("", response_model=MatchesPage)
def matches(
    ctrl: Ctrl,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    camera_id: str | None = None,
    since: Annotated[float | None, Query(description="last seen at or after (epoch s)")] = None,
    until: Annotated[float | None, Query(description="first seen at or before (epoch s)")] = None,
    current_only: Annotated[bool, Query(description="only matches of the current query people")] = False,
) -> MatchesPage:
    query_ids = {q.query_id for q in ctrl.queries.records()} if current_only else None
    total, rows = ctrl.live.matches.page(offset, limit, camera_id, since, until, query_ids)
    return MatchesPage(total=total, offset=offset, limit=limit, matches=[match_out(e) for e in rows])


@router.delete("", response_model=MatchesPage)
def clear_matches(ctrl: Ctrl) -> MatchesPage:
    """Forget the match list (the saved files stay)."""
    ctrl.live.matches.clear()
    ctrl.hub.publish({"type": "matches_cleared"})
    return MatchesPage(total=0, offset=0, limit=0, matches=[])
