"""A memory written by the previous schema (revision 0001) opens, migrates and keeps its data.

The old database is made the way an old release made it: migrated to 0001 only, rows written
with plain SQL of that schema (no column of 0002). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from storage_support import MODEL, SETTINGS, person, sighting, view

from reidcam.identity import IdentityMemory
from reidcam.storage.db import current_revision, make_engine, upgrade


def _vector(engine: sa.Engine, vec: np.ndarray) -> object:
    v = np.asarray(vec, np.float32)
    return "[" + ",".join(f"{x:.7g}" for x in v) + "]" if engine.dialect.name == "postgresql" else v.tobytes()


def _old_memory(url: str, vec: np.ndarray) -> None:
    engine = make_engine(url)
    upgrade(engine, "0001")
    vector = _vector(engine, vec)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO cameras (id, name, created_at) VALUES ('c1', 'door', 1.0)"))
        conn.execute(
            sa.text(
                "INSERT INTO identities (id, name, notes, created_at, updated_at, last_seen_at,"
                " confirmed_at) VALUES ('idn_old', 'Alice', 'kept', 1.0, 1.0, 1002.0, 1.0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sightings (id, camera_id, track_id, part, identity_id, first_seen_at,"
                " last_seen_at, n_embeddings, model_id, dim, prototype, created_at)"
                " VALUES ('sig_old', 'c1', 7, 0, 'idn_old', 1000.0, 1002.0, 3, :model, :dim, :vec, 1.0)"
            ),
            {"model": MODEL, "dim": len(vec), "vec": vector},
        )
        conn.execute(
            sa.text(
                "INSERT INTO identity_embeddings (identity_id, sighting_id, model_id, dim, vector, source,"
                " created_at) VALUES ('idn_old', 'sig_old', :model, :dim, :vec, 'sighting', 1.0)"
            ),
            {"model": MODEL, "dim": len(vec), "vec": vector},
        )
        conn.execute(
            sa.text(
                "INSERT INTO match_decisions (sighting_id, identity_id, model_id, similarity, threshold,"
                " verdict, reason, decided_at)"
                " VALUES ('sig_old', 'idn_old', :model, NULL, 0.65, 'new', 'founded', 1.0)"
            ),
            {"model": MODEL},
        )
    assert current_revision(engine) == "0001"
    engine.dispose()


def test_an_old_memory_migrates_keeps_its_data_and_new_sightings_join_it(db_url, data_dir):
    alice = person(3)
    _old_memory(db_url, view(alice, 1))
    with IdentityMemory.open(data_dir, url=db_url, settings=SETTINGS) as memory:
        assert current_revision(memory.engine) == "0003"
        assert memory.counts() == {"identities": 1, "sightings": 1, "embeddings": 1, "decisions": 1}
        old = memory.get_identity("idn_old")
        assert (old.name, old.notes, old.confirmed, old.n_sightings) == ("Alice", "kept", True, 1)
        [decision] = memory.decisions("sig_old")
        assert (decision.verdict, decision.reason, decision.n_members, decision.n_agree) == (
            "new",
            "founded",
            None,
            None,
        )
        joined = memory.record_sighting(sighting("c2", 1, view(alice, 2), 2000.0))
        assert joined.identity_id == "idn_old" and joined.verdict == "match"
        assert memory.decisions(joined.sighting_id)[-1].n_members == 1
    with IdentityMemory.open(data_dir, url=db_url, settings=SETTINGS) as again:  # the next start: no-op
        assert again.get_identity("idn_old").n_sightings == 2
