"""Read-only queries of the identity memory: identities, timelines, decisions, search hits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection, Row

from reidcam.identity.models import DecisionInfo, IdentityInfo, SearchHit, SightingInfo
from reidcam.storage import tables as t

_S = t.sightings
_D = t.match_decisions
_SIGHTING_COLS = (
    _S.c.id,
    _S.c.camera_id,
    _S.c.track_id,
    _S.c.part,
    _S.c.identity_id,
    _S.c.first_seen_at,
    _S.c.last_seen_at,
    _S.c.n_embeddings,
    _S.c.model_id,
    _S.c.crop_path,
    _S.c.crop_box,
    _S.c.crop_frame,
)


def _sightings_with_decision() -> sa.Select[Any]:
    """Sightings joined to the latest decision that links them to their current identity."""
    d2 = _D.alias("d2")
    latest = (
        sa.select(sa.func.max(d2.c.id))
        .where(d2.c.sighting_id == _S.c.id, d2.c.identity_id == _S.c.identity_id)
        .correlate(_S)
        .scalar_subquery()
    )
    return sa.select(*_SIGHTING_COLS, _D.c.similarity, _D.c.verdict, _D.c.feedback).select_from(
        _S.outerjoin(_D, _D.c.id == latest)
    )


def _sighting_info(row: Row[Any]) -> SightingInfo:
    box = row.crop_box
    return SightingInfo(
        id=row.id,
        camera_id=row.camera_id,
        track_id=int(row.track_id),
        part=int(row.part),
        identity_id=row.identity_id,
        first_seen_at=float(row.first_seen_at),
        last_seen_at=float(row.last_seen_at),
        n_embeddings=int(row.n_embeddings),
        model_id=row.model_id,
        crop_path=row.crop_path,
        crop_box=None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        crop_frame=row.crop_frame,
        similarity=None if row.similarity is None else float(row.similarity),
        verdict=row.verdict,
        feedback=row.feedback,
    )


def get_sighting(conn: Connection, sighting_id: str) -> SightingInfo | None:
    row = conn.execute(_sightings_with_decision().where(_S.c.id == sighting_id)).first()
    return None if row is None else _sighting_info(row)


def timeline(
    conn: Connection,
    identity_id: str,
    since: float | None = None,
    until: float | None = None,
    limit: int = 500,
    camera_ids: Sequence[str] | None = None,
) -> list[SightingInfo]:
    """The identity's sightings across cameras, oldest first."""
    stmt = _sightings_with_decision().where(_S.c.identity_id == identity_id)
    if since is not None:
        stmt = stmt.where(_S.c.last_seen_at >= since)
    if until is not None:
        stmt = stmt.where(_S.c.first_seen_at <= until)
    if camera_ids is not None:
        stmt = stmt.where(_S.c.camera_id.in_(list(camera_ids)))
    rows = conn.execute(stmt.order_by(_S.c.first_seen_at, _S.c.id).limit(limit)).all()
    return [_sighting_info(r) for r in rows]


def decisions(conn: Connection, sighting_id: str) -> list[DecisionInfo]:
    rows = conn.execute(sa.select(_D).where(_D.c.sighting_id == sighting_id).order_by(_D.c.id)).all()
    return [
        DecisionInfo(
            identity_id=r.identity_id,
            verdict=r.verdict,
            similarity=r.similarity,
            runner_up_id=r.runner_up_id,
            runner_up_similarity=r.runner_up_similarity,
            threshold=r.threshold,
            reason=r.reason,
            decided_at=r.decided_at,
            feedback=r.feedback,
            n_members=r.n_members,
            n_agree=r.n_agree,
        )
        for r in rows
    ]


def search_hits(conn: Connection, ranked: list[tuple[str, float]]) -> list[SearchHit]:
    """Hydrate (sighting_id, similarity) pairs, keeping their order."""
    if not ranked:
        return []
    ids = [sid for sid, _ in ranked]
    stmt = (
        _sightings_with_decision()
        .add_columns(t.identities.c.name.label("identity_name"))
        .outerjoin(t.identities, t.identities.c.id == _S.c.identity_id)
        .where(_S.c.id.in_(ids))
    )
    by_id = {r.id: r for r in conn.execute(stmt)}
    return [
        SearchHit(_sighting_info(by_id[sid]), sim, by_id[sid].identity_name)
        for sid, sim in ranked
        if sid in by_id
    ]


def list_identities(
    conn: Connection,
    limit: int = 100,
    offset: int = 0,
    named_only: bool = False,
    ids: Sequence[str] | None = None,
) -> list[IdentityInfo]:
    """Identities, most recently seen first."""
    i = t.identities
    stmt = sa.select(i)
    if named_only:
        stmt = stmt.where(i.c.name.is_not(None))
    if ids is not None:
        stmt = stmt.where(i.c.id.in_(list(ids)))
    order = (i.c.last_seen_at.is_(None), i.c.last_seen_at.desc(), i.c.created_at.desc(), i.c.id)
    rows = conn.execute(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return _identity_infos(conn, rows)


def get_identity(conn: Connection, identity_id: str) -> IdentityInfo | None:
    found = list_identities(conn, limit=1, ids=[identity_id])
    return found[0] if found else None


def _identity_infos(conn: Connection, rows: Sequence[Row[Any]]) -> list[IdentityInfo]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    e = t.identity_embeddings
    n_sight: dict[str, int] = dict(
        conn.execute(
            sa.select(_S.c.identity_id, sa.func.count())
            .where(_S.c.identity_id.in_(ids))
            .group_by(_S.c.identity_id)
        ).all()
    )
    n_emb: dict[str, int] = dict(
        conn.execute(
            sa.select(e.c.identity_id, sa.func.count())
            .where(e.c.identity_id.in_(ids))
            .group_by(e.c.identity_id)
        ).all()
    )
    cams: dict[str, list[str]] = {}
    for ident, cam in conn.execute(
        sa.select(_S.c.identity_id, _S.c.camera_id).where(_S.c.identity_id.in_(ids)).distinct()
    ):
        cams.setdefault(ident, []).append(cam)
    thumbs = _thumbnails(conn, ids)
    return [
        IdentityInfo(
            id=r.id,
            name=r.name,
            notes=r.notes or "",
            created_at=r.created_at,
            updated_at=r.updated_at,
            last_seen_at=r.last_seen_at,
            confirmed=r.confirmed_at is not None,
            n_sightings=int(n_sight.get(r.id, 0)),
            n_embeddings=int(n_emb.get(r.id, 0)),
            camera_ids=tuple(sorted(cams.get(r.id, []))),
            thumbnail=thumbs.get(r.id),
        )
        for r in rows
    ]


def _thumbnails(conn: Connection, ids: list[str]) -> dict[str, str]:
    """Per identity: an enrolled photo if any, else its best-quality sighting crop."""
    e = t.identity_embeddings
    out: dict[str, str] = {}
    ranked = sa.select(
        _S.c.identity_id,
        _S.c.crop_path,
        sa.func.row_number()
        .over(partition_by=_S.c.identity_id, order_by=(_S.c.crop_quality.desc(), _S.c.last_seen_at.desc()))
        .label("rn"),
    ).where(_S.c.identity_id.in_(ids), _S.c.crop_path.is_not(None))
    sub = ranked.subquery()
    for ident, path in conn.execute(sa.select(sub.c.identity_id, sub.c.crop_path).where(sub.c.rn == 1)):
        out[ident] = path
    enrolled = sa.select(e.c.identity_id, sa.func.min(e.c.crop_path)).where(
        e.c.identity_id.in_(ids), e.c.source == t.SOURCE_ENROLLED, e.c.crop_path.is_not(None)
    )
    for ident, path in conn.execute(enrolled.group_by(e.c.identity_id)):
        out[ident] = path
    return out


def gallery_vectors(
    conn: Connection, model_id: str, named_only: bool
) -> dict[str, tuple[str | None, list[NDArray[np.float32]], list[str | None]]]:
    """identity id -> (name, its embedding vectors of ``model_id``, the camera of each: that of
    the sighting it came from, None for an enrolled photo)."""
    e, i, s = t.identity_embeddings, t.identities, t.sightings
    stmt = (
        sa.select(e.c.identity_id, i.c.name, e.c.vector, s.c.camera_id)
        .join(i, i.c.id == e.c.identity_id)
        .outerjoin(s, s.c.id == e.c.sighting_id)
        .where(e.c.model_id == model_id)
    )
    if named_only:
        stmt = stmt.where(i.c.name.is_not(None))
    grouped: dict[str, tuple[str | None, list[NDArray[np.float32]], list[str | None]]] = {}
    for ident, name, vec, camera in conn.execute(stmt):
        entry = grouped.setdefault(ident, (name, [], []))
        entry[1].append(vec)
        entry[2].append(camera)
    return grouped


def counts(conn: Connection) -> dict[str, int]:
    tables = {
        "identities": t.identities,
        "sightings": t.sightings,
        "embeddings": t.identity_embeddings,
        "decisions": t.match_decisions,
    }
    return {
        name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
        for name, table in tables.items()
    }


def referenced_crop_paths(conn: Connection) -> set[str]:
    """Every crop path a row refers to (the startup sweep keeps these files)."""
    paths = set(conn.execute(sa.select(_S.c.crop_path)).scalars())
    paths |= set(conn.execute(sa.select(t.identity_embeddings.c.crop_path)).scalars())
    return {p for p in paths if p}
