"""A user's corrections: confirm, reject, move, merge, split. Each runs in the caller's transaction.

A rejection is remembered as the decision row's ``feedback = 'rejected'``: the sighting is never
placed in that identity again, and what it had taught the identity is removed. A confirmation
pins the sighting's embedding in the identity (never evicted) and protects it from retention.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reidcam.identity import records as r
from reidcam.identity.join import overlapping_pair, topology_blocked, topology_clash
from reidcam.identity.models import Assignment, IdentitySettings
from reidcam.identity.policy import VERDICT_MANUAL, Choice
from reidcam.identity.rows import SightingRow
from reidcam.storage import tables as t
from reidcam.storage.db import StorageError

ACCEPTED = "accepted"
REJECTED = "rejected"


class OverlapError(StorageError):
    """A user's move would put two people seen at the same time on one camera in one identity."""


class ImpossibleMoveError(StorageError):
    """A user's move would have one person walk between cameras faster than the topology allows."""


def _refuse_overlap(conn: Connection, row: SightingRow, identity_id: str, s: IdentitySettings) -> None:
    if identity_id in r.cannot_link(conn, row):
        raise OverlapError(
            f"sighting {row.id} cannot join identity {identity_id}: that identity was seen on camera "
            f"{row.camera_id} at the same time (another track), so they are two different people"
        )
    why = topology_blocked(conn, row, [identity_id], s.topology).get(identity_id)
    if why is not None:
        raise ImpossibleMoveError(
            f"sighting {row.id} cannot join identity {identity_id}: by the camera topology one person "
            f"cannot do that ({why})"
        )


def _refuse_merge(conn: Connection, keep_id: str, other_id: str, s: IdentitySettings) -> None:
    """The hard rules of the memory hold for a user's merge too: two people seen at once on one
    camera, or a walk between cameras faster than the topology allows, are never one person."""
    clash = overlapping_pair(conn, keep_id, other_id)
    if clash is not None:
        camera, a, b = clash
        raise OverlapError(
            f"cannot merge {other_id} into {keep_id}: both were seen at the same time on camera {camera} "
            f"(sightings {a} and {b}), so they are two different people; move single sightings instead"
        )
    move = topology_clash(conn, keep_id, other_id, s.topology)
    if move is not None:
        why, a, b = move
        raise ImpossibleMoveError(
            f"cannot merge {other_id} into {keep_id}: by the camera topology one person cannot be both "
            f"(sightings {a} and {b}: {why}); move single sightings instead"
        )


def _load(conn: Connection, sighting_id: str) -> tuple[SightingRow, str | None]:
    found = r.load_sighting(conn, sighting_id)
    if found is None:
        raise LookupError(f"no sighting {sighting_id}")
    return found


def _require_identity(conn: Connection, identity_id: str) -> None:
    if conn.execute(sa.select(t.identities.c.id).where(t.identities.c.id == identity_id)).first() is None:
        raise LookupError(f"no identity {identity_id}")


def _similarity_to(conn: Connection, row: SightingRow, identity_id: str) -> float | None:
    e = t.identity_embeddings
    vecs = conn.execute(
        sa.select(e.c.vector).where(
            e.c.identity_id == identity_id, e.c.model_id == row.model_id, e.c.dim == len(row.prototype)
        )
    ).all()
    return float(np.max(np.stack([v[0] for v in vecs]) @ row.prototype)) if vecs else None


def _manual(row: SightingRow, identity_id: str, similarity: float | None, reason: str) -> Assignment:
    return Assignment(
        row.id,
        identity_id,
        False,
        VERDICT_MANUAL,
        similarity,
        None,
        None,
        reason,
        row.camera_id,
        row.first_seen_at,
        row.last_seen_at,
        row.crop_path,
    )


def _link(
    conn: Connection, row: SightingRow, identity_id: str, reason: str, s: IdentitySettings, now: float
) -> float | None:
    """Attach the sighting to ``identity_id`` by a user's decision; returns its similarity there."""
    sim = _similarity_to(conn, row, identity_id)
    conn.execute(sa.update(t.sightings).where(t.sightings.c.id == row.id).values(identity_id=identity_id))
    choice = Choice(identity_id, VERDICT_MANUAL, sim, None, None, reason, False)
    r.insert_decision(conn, row, identity_id, choice, s.threshold, now)
    r.touch_identity(conn, identity_id, row.last_seen_at, now)
    return sim


def _pin(conn: Connection, row: SightingRow, identity_id: str, s: IdentitySettings, now: float) -> None:
    """Make the sighting's embedding a kept ('confirmed') one of the identity."""
    e = t.identity_embeddings
    res = conn.execute(
        sa.update(e)
        .where(e.c.identity_id == identity_id, e.c.sighting_id == row.id)
        .values(source=t.SOURCE_CONFIRMED)
    )
    if not res.rowcount:
        r.add_embedding(conn, identity_id, row, t.SOURCE_CONFIRMED, s, now)
    r.confirm_identity(conn, identity_id, now)


def _leave(conn: Connection, row: SightingRow, old: str | None, now: float) -> None:
    """The sighting is not ``old``: remember it, remove its evidence there."""
    if old is None:
        return
    r.set_feedback(conn, row.id, old, REJECTED, now)
    r.detach_evidence(conn, row.id, old)
    conn.execute(sa.update(t.sightings).where(t.sightings.c.id == row.id).values(identity_id=None))


def confirm(conn: Connection, sighting_id: str, s: IdentitySettings, now: float) -> str:
    """The sighting is rightly in its identity; returns that identity's id."""
    row, ident = _load(conn, sighting_id)
    if ident is None:
        raise StorageError(f"sighting {sighting_id} belongs to no identity")
    r.set_feedback(conn, sighting_id, ident, ACCEPTED, now)
    _pin(conn, row, ident, s, now)
    return ident


def reject(conn: Connection, sighting_id: str, s: IdentitySettings, now: float) -> Assignment:
    """The sighting is not its identity: forget that link and place it again without it."""
    row, old = _load(conn, sighting_id)
    if old is None:
        raise StorageError(f"sighting {sighting_id} belongs to no identity")
    _leave(conn, row, old, now)
    placed = r.place(conn, row, s, now)
    r.drop_if_empty(conn, old)
    return placed


def assign(
    conn: Connection, sighting_id: str, identity_id: str, s: IdentitySettings, now: float
) -> Assignment:
    """The sighting is ``identity_id`` (a user's word): move it there and learn from it."""
    row, old = _load(conn, sighting_id)
    _require_identity(conn, identity_id)
    if old == identity_id:
        confirm(conn, sighting_id, s, now)
        return _manual(row, identity_id, _similarity_to(conn, row, identity_id), "confirmed by a user")
    _refuse_overlap(conn, row, identity_id, s)
    _leave(conn, row, old, now)
    sim = _link(conn, row, identity_id, "moved here by a user", s, now)
    r.set_feedback(conn, row.id, identity_id, ACCEPTED, now)
    _pin(conn, row, identity_id, s, now)
    if old is not None:
        r.drop_if_empty(conn, old)
    return _manual(row, identity_id, sim, "moved here by a user")


def split(conn: Connection, sighting_id: str, s: IdentitySettings, now: float) -> Assignment:
    """Take a wrongly merged sighting out of its identity into a new identity of its own."""
    row, old = _load(conn, sighting_id)
    _leave(conn, row, old, now)
    new = r.insert_identity(conn, now)
    _link(conn, row, new, "split out by a user", s, now)
    r.add_embedding(conn, new, row, t.SOURCE_SIGHTING, s, now)
    if old is not None:
        r.drop_if_empty(conn, old)
    return Assignment(
        row.id,
        new,
        True,
        VERDICT_MANUAL,
        None,
        old,
        None,
        "split out by a user",
        row.camera_id,
        row.first_seen_at,
        row.last_seen_at,
        row.crop_path,
    )


def merge(conn: Connection, keep_id: str, other_id: str, s: IdentitySettings, now: float) -> None:
    """Move everything of ``other_id`` into ``keep_id`` and delete ``other_id``."""
    if keep_id == other_id:
        raise StorageError("cannot merge an identity with itself")
    i, d = t.identities, t.match_decisions
    keep = conn.execute(sa.select(i).where(i.c.id == keep_id)).first()
    other = conn.execute(sa.select(i).where(i.c.id == other_id)).first()
    if keep is None or other is None:
        raise LookupError(f"no identity {keep_id if keep is None else other_id}")
    _refuse_merge(conn, keep_id, other_id, s)
    for table, col in (
        (t.sightings, "identity_id"),
        (t.identity_embeddings, "identity_id"),
        (d, "identity_id"),
    ):
        conn.execute(sa.update(table).where(table.c[col] == other_id).values({col: keep_id}))
    conn.execute(sa.update(d).where(d.c.runner_up_id == other_id).values(runner_up_id=keep_id))
    # The merge is the user's newest word: rejections of the two halves from each other go.
    own = sa.select(t.sightings.c.id).where(t.sightings.c.identity_id == keep_id)
    conn.execute(
        sa.delete(d).where(d.c.identity_id == keep_id, d.c.feedback == REJECTED, d.c.sighting_id.in_(own))
    )
    conn.execute(sa.update(i).where(i.c.id == keep_id).values(**_merged_fields(keep, other, now)))
    conn.execute(sa.delete(i).where(i.c.id == other_id))
    models = conn.execute(
        sa.select(t.identity_embeddings.c.model_id)
        .where(t.identity_embeddings.c.identity_id == keep_id)
        .distinct()
    ).scalars()
    for model_id in list(models):
        r.enforce_bound(conn, keep_id, model_id, s.max_embeddings_per_identity)


def _merged_fields(keep: sa.Row[object], other: sa.Row[object], now: float) -> dict[str, object]:
    def first(*values: object) -> object:
        return next((v for v in values if v is not None), None)

    seen = [v for v in (keep.last_seen_at, other.last_seen_at) if v is not None]
    notes = "\n".join(n for n in (keep.notes, other.notes) if n)
    return {
        "name": first(keep.name, other.name),
        "notes": notes,
        "created_at": min(keep.created_at, other.created_at),
        "last_seen_at": max(seen) if seen else None,
        "confirmed_at": first(keep.confirmed_at, other.confirmed_at),
        "updated_at": now,
    }


def delete_sighting(conn: Connection, sighting_id: str) -> list[str]:
    """Delete one sighting (and its evidence and decisions); returns the crop paths to remove."""
    row, ident = _load(conn, sighting_id)
    conn.execute(sa.delete(t.sightings).where(t.sightings.c.id == sighting_id))
    if ident is not None:
        r.drop_if_empty(conn, ident)
    return [row.crop_path] if row.crop_path else []
