"""Sightings received from the broker are stored once per source id (SQLite and PostgreSQL).

The memory service may get a sighting again (redelivered after its reader died before the ack,
or re-sent after the broker's de-duplication window); ``record_published`` must then write
nothing and hand back where the first copy stands. Also: a memory of the previous schema
(0002) migrates to the source-id column and keeps its rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from storage_support import MODEL, SETTINGS, person, sighting, view

from reidcam.identity import IdentityMemory
from reidcam.identity import records as r
from reidcam.storage import tables as t
from reidcam.storage.db import current_revision, make_engine, upgrade


def _source_ids(memory: IdentityMemory) -> list[str | None]:
    with memory.engine.connect() as conn:
        return list(conn.execute(sa.select(t.sightings.c.source_id).order_by(t.sightings.c.id)).scalars())


def test_the_same_source_id_is_stored_once_and_gets_the_stored_assignment(memory):
    alice = person(1)
    first = memory.record_published(sighting("c1", 1, view(alice, 1), 100.0), "wire-1")
    again = memory.record_published(sighting("c1", 1, view(alice, 1), 100.0), "wire-1")
    other = memory.record_published(sighting("c2", 4, view(alice, 2), 200.0), "wire-2")
    assert not first.duplicate and again.duplicate and not other.duplicate
    assert again.assignment.sighting_id == first.assignment.sighting_id
    assert again.assignment.identity_id == first.assignment.identity_id
    assert again.assignment.verdict == first.assignment.verdict == "new"
    assert other.assignment.identity_id == first.assignment.identity_id  # same person, joined
    assert memory.counts()["sightings"] == 2
    assert sorted(_source_ids(memory)) == ["wire-1", "wire-2"]


def test_a_duplicate_writes_no_crop_file(memory, data_dir):
    s = sighting("c1", 1, view(person(2), 1), 100.0, with_crop=True)
    memory.record_published(s, "wire-crop")
    before = sorted(p.name for p in data_dir.rglob("*.jpg"))
    assert memory.record_published(s, "wire-crop").duplicate
    assert sorted(p.name for p in data_dir.rglob("*.jpg")) == before and len(before) == 1


def test_in_process_sightings_keep_a_null_source_id_any_number_of_times(memory):
    for i in range(3):
        memory.record_sighting(sighting("c1", i, view(person(3), i), 100.0 + 10 * i))
    memory.record_published(sighting("c1", 9, view(person(3), 9), 500.0), "wire-9")
    assert _source_ids(memory).count(None) == 3 and memory.counts()["sightings"] == 4


def test_the_loser_of_a_race_on_one_source_id_gets_the_winners_row(memory, monkeypatch):
    """Two writers both find the id absent; the unique index refuses the second insert.

    Forced here by hiding the first writer's row from the second's check, which is what a
    concurrent PostgreSQL transaction sees until the first commits.
    """
    first = memory.record_published(sighting("c1", 1, view(person(4), 1), 100.0), "wire-race")
    real = r.stored_assignment
    calls = []

    def blind_once(conn, source_id):
        calls.append(source_id)
        return None if len(calls) == 1 else real(conn, source_id)

    monkeypatch.setattr(r, "stored_assignment", blind_once)
    raced = memory.record_published(sighting("c1", 1, view(person(4), 1), 100.0), "wire-race")
    assert len(calls) == 2 and raced.duplicate
    assert raced.assignment.sighting_id == first.assignment.sighting_id
    assert memory.counts()["sightings"] == 1


def test_a_sighting_without_prototype_is_refused(memory):
    s = sighting("c1", 1, view(person(5), 1), 100.0)
    bare = type(s)(
        key=s.key, first_seen_at=1.0, last_seen_at=2.0, n_embeddings=0, prototype=None, model_id=None
    )
    with pytest.raises(ValueError, match="no prototype"):
        memory.record_published(bare, "wire-bare")
    assert memory.counts()["sightings"] == 0


def _memory_at_0002(url: str, vec: np.ndarray) -> None:
    engine = make_engine(url)
    upgrade(engine, "0002")
    v = np.asarray(vec, np.float32)
    vector = (
        "[" + ",".join(f"{x:.7g}" for x in v) + "]" if engine.dialect.name == "postgresql" else v.tobytes()
    )
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO cameras (id, name, created_at) VALUES ('c1', NULL, 1.0)"))
        conn.execute(
            sa.text(
                "INSERT INTO identities (id, notes, created_at, updated_at, last_seen_at)"
                " VALUES ('idn_old', '', 1.0, 1.0, 1002.0)"
            )
        )
        for sid in ("sig_a", "sig_b"):
            conn.execute(
                sa.text(
                    "INSERT INTO sightings (id, camera_id, track_id, part, identity_id, first_seen_at,"
                    " last_seen_at, n_embeddings, model_id, dim, prototype, created_at)"
                    " VALUES (:sid, 'c1', 7, 0, 'idn_old', 1000.0, 1002.0, 3, :model, :dim, :vec, 1.0)"
                ),
                {"sid": sid, "model": MODEL, "dim": len(v), "vec": vector},
            )
        conn.execute(
            sa.text(
                "INSERT INTO identity_embeddings (identity_id, sighting_id, model_id, dim, vector, source,"
                " created_at) VALUES ('idn_old', 'sig_a', :model, :dim, :vec, 'sighting', 1.0)"
            ),
            {"model": MODEL, "dim": len(v), "vec": vector},
        )
    assert current_revision(engine) == "0002"
    engine.dispose()


def test_a_0002_memory_migrates_to_source_ids_and_keeps_its_rows(db_url, data_dir):
    alice = person(6)
    _memory_at_0002(db_url, view(alice, 1))
    with IdentityMemory.open(data_dir, url=db_url, settings=SETTINGS) as memory:
        assert current_revision(memory.engine) == "0003"
        assert _source_ids(memory) == [None, None]
        joined = memory.record_published(sighting("c2", 1, view(alice, 2), 2000.0), "wire-new")
        assert joined.assignment.identity_id == "idn_old" and not joined.duplicate
        assert memory.record_published(sighting("c2", 1, view(alice, 2), 2000.0), "wire-new").duplicate
        assert memory.counts()["sightings"] == 3
