"""Row-level steps of the identity memory; each runs inside the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from reidcam.core.types import Sighting
from reidcam.identity.join import candidate_supports
from reidcam.identity.models import Assignment, IdentitySettings
from reidcam.identity.policy import VERDICT_NEW, Choice, choose, evictions, is_redundant_sims
from reidcam.identity.rows import SightingRow
from reidcam.identity.track_crops import TrackSpan
from reidcam.storage import tables as t

log = logging.getLogger(__name__)


def ensure_camera(conn: Connection, camera_id: str, now: float, name: str | None = None) -> None:
    row = conn.execute(sa.select(t.cameras.c.name).where(t.cameras.c.id == camera_id)).first()
    if row is None:
        conn.execute(sa.insert(t.cameras).values(id=camera_id, name=name, created_at=now))
    elif name is not None and row[0] != name:
        conn.execute(sa.update(t.cameras).where(t.cameras.c.id == camera_id).values(name=name))


def insert_identity(
    conn: Connection,
    now: float,
    name: str | None = None,
    notes: str = "",
    confirmed: bool = False,
    identity_id: str | None = None,
    last_seen_at: float | None = None,
) -> str:
    ident = identity_id or t.new_id(t.IDENTITY_PREFIX)
    conn.execute(
        sa.insert(t.identities).values(
            id=ident,
            name=name,
            notes=notes,
            created_at=now,
            updated_at=now,
            confirmed_at=now if confirmed else None,
            last_seen_at=last_seen_at,
        )
    )
    return ident


def insert_sighting(
    conn: Connection,
    sighting_id: str,
    sighting: Sighting,
    crop_path: str | None,
    now: float,
    source_id: str | None = None,
) -> SightingRow:
    """Store a closed sighting (not yet placed in an identity).

    ``source_id``: the id it was published under on the broker (unique), None in-process.
    """
    row, values = sighting_values(sighting_id, sighting, crop_path, now, source_id)
    conn.execute(sa.insert(t.sightings).values(**values))
    return row


def sighting_values(
    sighting_id: str,
    sighting: Sighting,
    crop_path: str | None,
    now: float,
    source_id: str | None = None,
) -> tuple[SightingRow, dict[str, object]]:
    """The row of a closed sighting and the column values that store it (no identity yet)."""
    proto = np.asarray(sighting.prototype, np.float32).reshape(-1)
    crop = sighting.best_crop
    row = SightingRow(
        sighting_id,
        sighting.key.camera_id,
        sighting.key.track_id,
        sighting.first_seen_at,
        sighting.last_seen_at,
        str(sighting.model_id),
        proto,
        crop_path,
    )
    values: dict[str, object] = {
        "id": sighting_id,
        "camera_id": row.camera_id,
        "track_id": row.track_id,
        "part": sighting.key.part,
        "first_seen_at": row.first_seen_at,
        "last_seen_at": row.last_seen_at,
        "n_embeddings": sighting.n_embeddings,
        "model_id": row.model_id,
        "dim": len(proto),
        "prototype": proto,
        "crop_path": crop_path,
        "crop_quality": None if crop is None else crop.quality,
        "crop_box": None if crop is None else [round(float(v), 1) for v in crop.xyxy],
        "crop_frame": None if crop is None else crop.frame_name,
        "created_at": now,
        "source_id": source_id,
    }
    return row, values


def stored_assignment(conn: Connection, source_id: str) -> Assignment | None:
    """Where the sighting published as ``source_id`` stands now, or None if it was never stored.

    Built from the row and its latest decision: the assignment a redelivered sighting gets back
    instead of being stored twice (a user's later move shows as verdict 'manual').
    """
    s, d = t.sightings, t.match_decisions
    row = conn.execute(
        sa.select(
            s.c.id, s.c.identity_id, s.c.camera_id, s.c.first_seen_at, s.c.last_seen_at, s.c.crop_path
        ).where(s.c.source_id == source_id)
    ).first()
    if row is None:
        return None
    dec = conn.execute(
        sa.select(d.c.verdict, d.c.similarity, d.c.runner_up_id, d.c.runner_up_similarity, d.c.reason)
        .where(d.c.sighting_id == row.id, d.c.identity_id == row.identity_id)
        .order_by(d.c.id.desc())
        .limit(1)
    ).first()
    return Assignment(
        sighting_id=row.id,
        identity_id=str(row.identity_id),
        created_identity=False,
        verdict=dec.verdict if dec is not None else "",
        similarity=dec.similarity if dec is not None else None,
        runner_up_id=dec.runner_up_id if dec is not None else None,
        runner_up_similarity=dec.runner_up_similarity if dec is not None else None,
        reason=dec.reason if dec is not None else "",
        camera_id=row.camera_id,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        crop_path=row.crop_path,
    )


def insert_enrolled(
    conn: Connection,
    identity_id: str,
    vector: NDArray[np.float32],
    model_id: str,
    crop_path: str | None,
    now: float,
) -> None:
    """A user's photo of the person: a kept embedding with no sighting behind it."""
    conn.execute(
        sa.insert(t.identity_embeddings).values(
            identity_id=identity_id,
            sighting_id=None,
            model_id=model_id,
            dim=len(vector),
            vector=vector,
            source=t.SOURCE_ENROLLED,
            crop_path=crop_path,
            created_at=now,
        )
    )


def load_sighting(conn: Connection, sighting_id: str) -> tuple[SightingRow, str | None] | None:
    """The sighting and its current identity id, or None if there is no such sighting."""
    s = t.sightings
    row = conn.execute(
        sa.select(
            s.c.id,
            s.c.camera_id,
            s.c.track_id,
            s.c.first_seen_at,
            s.c.last_seen_at,
            s.c.model_id,
            s.c.prototype,
            s.c.crop_path,
            s.c.identity_id,
        ).where(s.c.id == sighting_id)
    ).first()
    if row is None:
        return None
    return SightingRow(*row[:8]), row[8]


def cannot_link(conn: Connection, row: SightingRow) -> set[str]:
    """Identities seen on the same camera, on another track, at the same time: not this person."""
    s = t.sightings
    stmt = sa.select(s.c.identity_id).where(
        s.c.camera_id == row.camera_id,
        s.c.track_id != row.track_id,
        s.c.id != row.id,
        s.c.first_seen_at <= row.last_seen_at,
        s.c.last_seen_at >= row.first_seen_at,
        s.c.identity_id.is_not(None),
    )
    return {str(r[0]) for r in conn.execute(stmt.distinct())}


def rejected_identities(conn: Connection, sighting_id: str) -> set[str]:
    d = t.match_decisions
    stmt = sa.select(d.c.identity_id).where(d.c.sighting_id == sighting_id, d.c.feedback == "rejected")
    return {str(r[0]) for r in conn.execute(stmt)}


def insert_decision(
    conn: Connection, row: SightingRow, identity_id: str, choice: Choice, threshold: float, now: float
) -> None:
    conn.execute(
        sa.insert(t.match_decisions).values(
            sighting_id=row.id,
            identity_id=identity_id,
            model_id=row.model_id,
            similarity=choice.similarity,
            runner_up_id=choice.runner_up_id,
            runner_up_similarity=choice.runner_up_similarity,
            threshold=threshold,
            verdict=choice.verdict,
            reason=choice.reason,
            n_members=choice.n_members,
            n_agree=choice.n_agree,
            decided_at=now,
        )
    )


def set_feedback(conn: Connection, sighting_id: str, identity_id: str, feedback: str, now: float) -> None:
    """Mark the latest decision about (sighting, identity) with a user's word."""
    d = t.match_decisions
    latest = conn.execute(
        sa.select(sa.func.max(d.c.id)).where(d.c.sighting_id == sighting_id, d.c.identity_id == identity_id)
    ).scalar()
    if latest is None:
        raise LookupError(f"no decision links sighting {sighting_id} to identity {identity_id}")
    conn.execute(sa.update(d).where(d.c.id == latest).values(feedback=feedback, feedback_at=now))


def add_embedding(
    conn: Connection,
    identity_id: str,
    row: SightingRow,
    source: str,
    settings: IdentitySettings,
    now: float,
    member_sims: NDArray[np.float32] | None = None,
) -> bool:
    """Add the sighting's prototype to the identity unless redundant; keep the bound. True if added.

    ``member_sims``: the prototype's similarity to each of the identity's kept embeddings (same
    model), when the caller has them already: they are not read again, and neither are the
    members for the bound unless the identity is over it.
    """
    e = t.identity_embeddings
    if member_sims is None:
        existing = conn.execute(
            sa.select(e.c.vector).where(e.c.identity_id == identity_id, e.c.model_id == row.model_id)
        ).all()
        stack = (
            np.stack([r[0] for r in existing]) if existing else np.zeros((0, len(row.prototype)), np.float32)
        )
        member_sims = stack @ row.prototype
    if source == t.SOURCE_SIGHTING and is_redundant_sims(member_sims, settings.redundant_similarity):
        return False
    conn.execute(
        sa.insert(e).values(
            identity_id=identity_id,
            sighting_id=row.id,
            model_id=row.model_id,
            dim=len(row.prototype),
            vector=row.prototype,
            source=source,
            crop_path=row.crop_path,
            created_at=now,
        )
    )
    if len(member_sims) + 1 > settings.max_embeddings_per_identity:
        enforce_bound(conn, identity_id, row.model_id, settings.max_embeddings_per_identity)
    return True


def enforce_bound(conn: Connection, identity_id: str, model_id: str, max_n: int) -> int:
    """Evict the most redundant automatic embeddings beyond ``max_n``; returns how many."""
    e = t.identity_embeddings
    rows = conn.execute(
        sa.select(e.c.id, e.c.vector, e.c.source)
        .where(e.c.identity_id == identity_id, e.c.model_id == model_id)
        .order_by(e.c.id)
    ).all()
    if len(rows) <= max_n:
        return 0
    pinned = np.array([r[2] in t.PINNED_SOURCES for r in rows])
    drop = evictions(np.stack([r[1] for r in rows]), pinned, max_n)
    if drop:
        conn.execute(sa.delete(e).where(e.c.id.in_([rows[i][0] for i in drop])))
    return len(drop)


def touch_identity(conn: Connection, identity_id: str, seen_at: float, now: float) -> None:
    i = t.identities
    last = sa.case(
        (i.c.last_seen_at.is_(None), seen_at), (i.c.last_seen_at < seen_at, seen_at), else_=i.c.last_seen_at
    )
    conn.execute(sa.update(i).where(i.c.id == identity_id).values(last_seen_at=last, updated_at=now))


def place(
    conn: Connection,
    row: SightingRow,
    settings: IdentitySettings,
    now: float,
    exclude: Collection[str] = (),
    new_row: dict[str, object] | None = None,
) -> Assignment:
    """Join the sighting to the identity it agrees with as a whole, or found a new one.

    Never joins an identity seen at the same time on this camera, one the sighting was rejected
    from, or one the camera topology says it cannot have come from. Writes link, decision, evidence.

    ``new_row``: the column values of a sighting not stored yet (``sighting_values``): it is
    inserted with its identity, saving an update (on PostgreSQL a second row version, hence a
    second entry in every index, the HNSW one included), and it can have no earlier rejection.
    """
    rejected = rejected_identities(conn, row.id) if new_row is None else set()
    blocked = set(exclude) | cannot_link(conn, row) | rejected
    supports, forbidden, member_sims = candidate_supports(conn, row, blocked, settings)
    choice = choose(
        [(x.identity_id, x.similarity) for x in supports], settings, {x.identity_id: x for x in supports}
    )
    if forbidden and choice.identity_id is None:
        why = "; ".join(f"not {i}: {w}" for i, w in list(forbidden.items())[:2])
        choice = replace(choice, reason=f"{choice.reason}; {why}")
    created = choice.identity_id is None
    if created:
        identity_id = insert_identity(conn, now, last_seen_at=row.last_seen_at)
    else:
        identity_id = str(choice.identity_id)
        touch_identity(conn, identity_id, row.last_seen_at, now)
    if new_row is None:
        conn.execute(sa.update(t.sightings).where(t.sightings.c.id == row.id).values(identity_id=identity_id))
    else:
        conn.execute(sa.insert(t.sightings).values(**new_row, identity_id=identity_id))
    insert_decision(conn, row, identity_id, choice, settings.threshold, now)
    if choice.enrich:
        sims = member_sims.get(identity_id, np.zeros((0,), np.float32))
        add_embedding(conn, identity_id, row, t.SOURCE_SIGHTING, settings, now, sims)
    if created:
        log.debug("sighting %s founded identity %s (%s)", row.id, identity_id, choice.reason)
    return Assignment(
        sighting_id=row.id,
        identity_id=identity_id,
        created_identity=created,
        verdict=choice.verdict if not created else VERDICT_NEW,
        similarity=choice.similarity,
        runner_up_id=choice.runner_up_id,
        runner_up_similarity=choice.runner_up_similarity,
        reason=choice.reason,
        camera_id=row.camera_id,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        crop_path=row.crop_path,
    )


def drop_if_empty(conn: Connection, identity_id: str) -> bool:
    """Delete an unconfirmed identity with no sightings left (nothing would ever show it)."""
    i, s = t.identities, t.sightings
    has_sightings = sa.exists().where(s.c.identity_id == identity_id)
    res = conn.execute(sa.delete(i).where(i.c.id == identity_id, i.c.confirmed_at.is_(None), ~has_sightings))
    return bool(res.rowcount)


def detach_evidence(conn: Connection, sighting_id: str, identity_id: str) -> None:
    """Remove what the sighting taught the identity (its embeddings there)."""
    e = t.identity_embeddings
    conn.execute(sa.delete(e).where(e.c.sighting_id == sighting_id, e.c.identity_id == identity_id))


def confirm_identity(conn: Connection, identity_id: str, now: float) -> None:
    i = t.identities
    conn.execute(
        sa.update(i)
        .where(i.c.id == identity_id)
        .values(confirmed_at=sa.func.coalesce(i.c.confirmed_at, now), updated_at=now)
    )


def identity_crop_paths(conn: Connection, identity_id: str) -> list[str]:
    """Every crop file of an identity: its sightings' and its enrolled photos'."""
    s, e = t.sightings, t.identity_embeddings
    paths = list(conn.execute(sa.select(s.c.crop_path).where(s.c.identity_id == identity_id)).scalars())
    paths += conn.execute(sa.select(e.c.crop_path).where(e.c.identity_id == identity_id)).scalars().all()
    return [p for p in paths if p]


def track_spans(conn: Connection, where: sa.ColumnElement[bool]) -> list[TrackSpan]:
    """The track spans of the sightings matching ``where`` (their crops under training/tracks/)."""
    s = t.sightings
    cols = (s.c.camera_id, s.c.track_id, s.c.first_seen_at, s.c.last_seen_at)
    rows = conn.execute(sa.select(*cols).where(where))
    return [TrackSpan(str(c), int(k), float(a), float(b)) for c, k, a, b in rows]
