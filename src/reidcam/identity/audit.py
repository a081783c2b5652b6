"""Check a memory against what must never happen: two people seen at once in one identity.

Used by tests and ``benchmarks/identity_rule.py``; cheap enough to run on a live memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reidcam.storage import tables as t


@dataclass(frozen=True)
class MemoryAudit:
    """``camera_sets``: identity id -> the cameras its sightings are on; ``sizes``: -> how many
    sightings. ``overlaps``: (identity, sighting, sighting) seen at the same time on one camera on
    different tracks (never allowed)."""

    identities: int
    sightings: int
    camera_sets: dict[str, frozenset[str]]
    sizes: dict[str, int]
    overlaps: list[tuple[str, str, str]]

    def spanning(self, cameras: set[str]) -> list[str]:
        """Identities holding sightings of every camera in ``cameras``."""
        return sorted(i for i, cams in self.camera_sets.items() if cameras <= cams)


def overlaps(conn: Connection) -> list[tuple[str, str, str]]:
    a, b = t.sightings.alias("a"), t.sightings.alias("b")
    stmt = sa.select(a.c.identity_id, a.c.id, b.c.id).where(
        a.c.identity_id == b.c.identity_id,
        a.c.id < b.c.id,
        a.c.camera_id == b.c.camera_id,
        a.c.track_id != b.c.track_id,
        a.c.first_seen_at <= b.c.last_seen_at,
        a.c.last_seen_at >= b.c.first_seen_at,
    )
    return [(str(i), str(x), str(y)) for i, x, y in conn.execute(stmt)]


def audit(conn: Connection) -> MemoryAudit:
    s = t.sightings
    cams: dict[str, set[str]] = defaultdict(set)
    sizes: dict[str, int] = defaultdict(int)
    n_sightings = 0
    for ident, camera, n in conn.execute(
        sa.select(s.c.identity_id, s.c.camera_id, sa.func.count()).group_by(s.c.identity_id, s.c.camera_id)
    ):
        n_sightings += int(n)
        if ident is not None:
            cams[str(ident)].add(str(camera))
            sizes[str(ident)] += int(n)
    n_identities = conn.execute(sa.select(sa.func.count()).select_from(t.identities)).scalar_one()
    return MemoryAudit(
        int(n_identities),
        n_sightings,
        {i: frozenset(c) for i, c in cams.items()},
        dict(sizes),
        overlaps(conn),
    )
