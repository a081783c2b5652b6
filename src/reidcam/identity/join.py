"""Which identities a sighting may join, and how well it agrees with each as a whole.

Runs inside the caller's transaction. The nearest embeddings only nominate candidates; each
candidate is then judged on all its kept embeddings (``policy.support``), after the hard
constraints have removed the impossible ones: people seen at once on one camera (``cannot_link``
in ``records``) and moves the camera topology forbids (here).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reidcam.identity.models import IdentitySettings
from reidcam.identity.policy import Support, rank_supports, support
from reidcam.identity.rows import SightingRow
from reidcam.identity.topology import Topology, sighting_gap_s
from reidcam.storage import tables as t
from reidcam.storage.vector_ops import identity_scores, inner_product, pg_vector_literal

MAX_CANDIDATES = 16


def member_similarities(
    conn: Connection, row: SightingRow, identity_ids: Collection[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per identity: the prototype's similarity to each kept embedding (same model) and which
    of them a user vouched for (enrolled or confirmed)."""
    if not identity_ids:
        return {}
    e = t.identity_embeddings
    where = (
        e.c.identity_id.in_(list(identity_ids)),
        e.c.model_id == row.model_id,
        e.c.dim == len(row.prototype),
    )
    if conn.dialect.name == "postgresql":
        # The database computes the dot products: only one float per member comes back, not
        # its vector (256 floats as text to parse, for up to 16 x 32 members).
        rows = conn.execute(
            sa.select(e.c.identity_id, inner_product(e.c.vector, len(row.prototype)), e.c.source).where(
                *where
            ),
            {"q": pg_vector_literal(row.prototype)},
        ).all()
        sims_of: dict[str, list[tuple[float, bool]]] = {}
        for ident, sim, source in rows:
            sims_of.setdefault(str(ident), []).append((float(sim), source in t.PINNED_SOURCES))
        return {
            i: (np.array([x for x, _ in m], np.float32), np.array([p for _, p in m], bool))
            for i, m in sims_of.items()
        }
    grouped: dict[str, list[tuple[np.ndarray, bool]]] = {}
    for ident, vec, source in conn.execute(sa.select(e.c.identity_id, e.c.vector, e.c.source).where(*where)):
        grouped.setdefault(str(ident), []).append((vec, source in t.PINNED_SOURCES))
    return {
        i: (np.stack([v for v, _ in m]) @ row.prototype, np.array([p for _, p in m], bool))
        for i, m in grouped.items()
    }


def topology_blocked(
    conn: Connection, row: SightingRow, identity_ids: Collection[str], topology: Topology | None
) -> dict[str, str]:
    """Candidates the sighting cannot be, by the camera topology: ``{identity_id: why}``."""
    if topology is None or not identity_ids or row.camera_id not in topology.cameras:
        return {}
    s = t.sightings
    horizon = topology.horizon_s()
    others = sorted(topology.cameras - {row.camera_id})
    stmt = sa.select(s.c.identity_id, s.c.camera_id, s.c.first_seen_at, s.c.last_seen_at).where(
        s.c.identity_id.in_(list(identity_ids)),
        s.c.camera_id.in_(others),
        s.c.first_seen_at <= row.last_seen_at + horizon,
        s.c.last_seen_at >= row.first_seen_at - horizon,
    )
    blocked: dict[str, str] = {}
    for ident, camera, first, last in conn.execute(stmt):
        if ident in blocked:
            continue
        earlier = last <= row.first_seen_at
        gap = sighting_gap_s(first, last, row.first_seen_at, row.last_seen_at)
        a, b = (camera, row.camera_id) if earlier else (row.camera_id, camera)
        why = topology.impossible(a, b, gap)
        if why is not None:
            blocked[str(ident)] = why
    return blocked


def candidate_supports(
    conn: Connection, row: SightingRow, blocked: Collection[str], settings: IdentitySettings
) -> tuple[list[Support], dict[str, str], dict[str, np.ndarray]]:
    """The sighting's quorum support for each possible identity, best first, what topology
    removed, and the similarity to each member of the supported identities (for the evidence step).

    Candidates are the identities of the nearest embeddings (at most ``MAX_CANDIDATES``); the
    quorum similarity is never above the nearest-member similarity, so no identity outside them
    could pass the threshold where one inside does not.
    """
    # Enough nearest rows for the best identities even when they are full.
    k_rows = 2 * settings.max_embeddings_per_identity + 16
    nearest = identity_scores(conn, row.prototype, row.model_id, blocked, k_rows)[:MAX_CANDIDATES]
    ids = [i for i, _ in nearest]
    forbidden = topology_blocked(conn, row, ids, settings.topology)
    allowed = [i for i in ids if i not in forbidden]
    sims = member_similarities(conn, row, allowed)
    ranked = [support(i, sims[i][0], settings, sims[i][1]) for i in allowed if i in sims]
    return rank_supports(ranked), forbidden, {i: m[0] for i, m in sims.items()}


def overlapping_pair(conn: Connection, keep_id: str, other_id: str) -> tuple[str, str, str] | None:
    """A sighting of each identity seen at the same time on one camera (two people): (camera, a, b)."""
    a, b = t.sightings.alias("a"), t.sightings.alias("b")
    stmt = (
        sa.select(a.c.camera_id, a.c.id, b.c.id)
        .where(
            a.c.identity_id == keep_id,
            b.c.identity_id == other_id,
            a.c.camera_id == b.c.camera_id,
            a.c.track_id != b.c.track_id,
            a.c.first_seen_at <= b.c.last_seen_at,
            a.c.last_seen_at >= b.c.first_seen_at,
        )
        .limit(1)
    )
    found = conn.execute(stmt).first()
    return None if found is None else (str(found[0]), str(found[1]), str(found[2]))


def topology_clash(
    conn: Connection, keep_id: str, other_id: str, topology: Topology | None
) -> tuple[str, str, str] | None:
    """A sighting of each identity the camera topology says one person cannot both be:
    (why, sighting of ``keep_id``, sighting of ``other_id``); None when every move is possible.

    Only pairs on two cameras of the topology within its horizon of each other are looked at.
    """
    if topology is None:
        return None
    a, b = t.sightings.alias("a"), t.sightings.alias("b")
    cams, horizon = sorted(topology.cameras), topology.horizon_s()
    cols = (a.c.id, a.c.camera_id, a.c.first_seen_at, a.c.last_seen_at)
    stmt = (
        sa.select(*cols, b.c.id, b.c.camera_id, b.c.first_seen_at, b.c.last_seen_at)
        .where(
            a.c.identity_id == keep_id,
            b.c.identity_id == other_id,
            a.c.camera_id != b.c.camera_id,
            a.c.camera_id.in_(cams),
            b.c.camera_id.in_(cams),
            a.c.first_seen_at <= b.c.last_seen_at + horizon,
            a.c.last_seen_at >= b.c.first_seen_at - horizon,
        )
        .order_by(a.c.first_seen_at, b.c.first_seen_at)
    )
    for sa_id, cam_a, first_a, last_a, sb_id, cam_b, first_b, last_b in conn.execute(stmt):
        gap = sighting_gap_s(first_a, last_a, first_b, last_b)
        move = (cam_a, cam_b) if last_a <= first_b else (cam_b, cam_a)
        why = topology.impossible(*move, gap)
        if why is not None:
            return why, str(sa_id), str(sb_id)
    return None
