"""IdentityMemory on SQLite and on a real PostgreSQL with pgvector (see conftest.db_url).

People are synthetic unit vectors: ``person(n)`` is someone's appearance, ``view`` one sighting
of them (similarity ~0.9), ``mix`` a look-alike in between two people.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import sqlalchemy as sa
from storage_support import DIM, MODEL, mix, person, sighting, view

from reidcam.core.types import Embeddings, l2_normalize
from reidcam.identity import IdentitySettings, RetentionWorker
from reidcam.match import Gallery
from reidcam.storage import tables as t


def orthogonal(a: np.ndarray, seed: int) -> np.ndarray:
    b = person(seed)
    return l2_normalize(b - float(b @ a) * a)


def _sources(memory, identity_id):
    e = t.identity_embeddings
    with memory.engine.connect() as conn:
        rows = conn.execute(sa.select(e.c.sighting_id, e.c.source).where(e.c.identity_id == identity_id))
        return dict(rows.all())


def test_one_identity_across_cameras_and_a_new_one_for_a_stranger(memory):
    alice, bob = person(1), person(2)
    r1 = memory.record_sighting(sighting("c1", 1, view(alice, 1), 1000.0))
    r2 = memory.record_sighting(sighting("c2", 7, view(alice, 2), 1100.0))
    r3 = memory.record_sighting(sighting("c1", 2, view(bob, 3), 1200.0))
    assert r1.created_identity and r1.verdict == "new"
    assert (r2.identity_id, r2.verdict, r2.created_identity) == (r1.identity_id, "match", False)
    assert r2.similarity > 0.9
    assert r3.created_identity and r3.identity_id != r1.identity_id
    info = memory.get_identity(r1.identity_id)
    assert info.camera_ids == ("c1", "c2") and info.n_sightings == 2 and not info.confirmed
    assert memory.crop_file(r2.crop_path) is not None, "the best crop is a file under the data dir"


def test_identities_outlive_a_restart_and_matching_resumes(open_memory, data_dir):
    alice, bob = person(1), person(2)
    first = open_memory()
    a = first.record_sighting(sighting("c1", 1, view(alice, 1), 1000.0))
    first.record_sighting(sighting("c1", 2, view(bob, 2), 1000.0))
    first.update_identity(a.identity_id, name="Alice", notes="white dress")
    first.close()

    second = open_memory()  # a new process would do exactly this
    people = {i.id: i for i in second.list_identities()}
    assert len(people) == 2 and people[a.identity_id].name == "Alice"
    assert people[a.identity_id].confirmed, "naming someone confirms them"
    again = second.record_sighting(sighting("c3", 9, view(alice, 3), 5000.0))
    assert again.identity_id == a.identity_id and again.verdict == "match"
    assert [s.camera_id for s in second.timeline(a.identity_id)] == ["c1", "c3"]
    assert second.crop_file(second.timeline(a.identity_id)[0].crop_path) is not None


def test_people_seen_at_the_same_time_on_one_camera_are_two_identities(memory):
    twin = person(5)
    r1 = memory.record_sighting(sighting("c1", 1, view(twin, 1), 1000.0, 1010.0))
    r2 = memory.record_sighting(sighting("c1", 2, view(twin, 2), 1005.0, 1015.0))
    r3 = memory.record_sighting(sighting("c1", 3, view(twin, 3), 2000.0, 2010.0))
    assert r2.identity_id != r1.identity_id, "two tracks at once on one camera are two people"
    assert r3.identity_id in {r1.identity_id, r2.identity_id}


def test_identity_embeddings_are_bounded_and_keep_diverse_views(memory):
    alice = person(1)
    views = [mix(alice, person(100 + i), 0.25) for i in range(8)]
    first = memory.record_sighting(sighting("c1", 0, views[0], 1000.0))
    for i, v in enumerate(views[1:], start=1):
        assert memory.record_sighting(sighting("c1", i, v, 1000.0 + 10 * i)).identity_id == first.identity_id
    info = memory.get_identity(first.identity_id)
    assert info.n_sightings == 8 and info.n_embeddings == memory.settings.max_embeddings_per_identity


def test_a_close_call_joins_but_teaches_nothing_until_confirmed(memory):
    a = person(1)
    b = orthogonal(a, 2)
    ra = memory.record_sighting(sighting("c1", 1, a, 1000.0))
    rb = memory.record_sighting(sighting("c1", 2, b, 1000.0))
    probe = l2_normalize(a + b + 0.01 * a)  # ~0.71 to both
    close = memory.record_sighting(sighting("c2", 3, probe, 2000.0))
    assert close.verdict == "uncertain" and close.identity_id == ra.identity_id
    assert close.runner_up_id == rb.identity_id
    assert close.sighting_id not in _sources(memory, ra.identity_id)

    memory.confirm(close.sighting_id)  # the user says: yes, that is her
    assert _sources(memory, ra.identity_id)[close.sighting_id] == "confirmed"
    assert memory.get_identity(ra.identity_id).confirmed
    later = memory.record_sighting(sighting("c2", 4, view(probe, 9, 0.05), 3000.0))
    assert later.verdict == "match" and later.identity_id == ra.identity_id


def test_a_rejection_removes_the_evidence_is_remembered_and_changes_later_decisions(memory):
    alice = person(1)
    lookalike = orthogonal(alice, 4)
    ra = memory.record_sighting(sighting("c1", 1, alice, 1000.0))
    wrong = memory.record_sighting(sighting("c2", 2, mix(alice, lookalike, 0.4), 2000.0))
    assert wrong.identity_id == ra.identity_id and wrong.sighting_id in _sources(memory, ra.identity_id)

    moved = memory.reject(wrong.sighting_id)
    assert moved.identity_id != ra.identity_id and moved.created_identity
    assert wrong.sighting_id not in _sources(memory, ra.identity_id), "its evidence is gone"
    first = memory.decisions(wrong.sighting_id)[0]
    assert (first.identity_id, first.feedback) == (ra.identity_id, "rejected")
    # Someone who looks like the rejected sighting now goes to its new identity, not to alice.
    later = memory.record_sighting(sighting("c2", 3, mix(alice, lookalike, 0.6), 3000.0))
    assert later.identity_id == moved.identity_id
    # Rejected again, it founds a third identity rather than going back to alice.
    again = memory.reject(wrong.sighting_id)
    assert again.identity_id not in {ra.identity_id, moved.identity_id}


def test_assign_moves_a_sighting_to_the_right_person_and_learns_from_it(memory):
    alice = person(1)
    back_view = mix(alice, orthogonal(alice, 6), 0.6)  # ~0.55 to her front: not matched alone
    ra = memory.record_sighting(sighting("c1", 1, alice, 1000.0))
    stray = memory.record_sighting(sighting("c2", 2, back_view, 2000.0))
    assert stray.created_identity
    memory.assign(stray.sighting_id, ra.identity_id)
    assert memory.get_identity(stray.identity_id) is None, "the emptied identity is gone"
    assert memory.get_identity(ra.identity_id).n_sightings == 2
    later = memory.record_sighting(sighting("c3", 3, view(back_view, 5, 0.05), 3000.0))
    assert later.identity_id == ra.identity_id


def test_merge_two_identities_then_split_a_sighting_out(memory):
    a = person(1)
    b = orthogonal(a, 2)
    ra = memory.record_sighting(sighting("c1", 1, a, 1000.0))
    rb = memory.record_sighting(sighting("c2", 1, b, 1100.0))
    memory.update_identity(rb.identity_id, name="Alice")
    merged = memory.merge(ra.identity_id, rb.identity_id)
    assert merged.id == ra.identity_id and merged.name == "Alice" and merged.camera_ids == ("c1", "c2")
    assert memory.get_identity(rb.identity_id) is None
    # One of two members is no majority: the memory does not join through the merged half alone...
    alone = memory.record_sighting(sighting("c3", 1, view(b, 4, 0.05), 1200.0))
    assert alone.created_identity and "1 of its 2 members agree, 2 needed" in alone.reason
    # ...until a user confirms such a view: what a user vouched for counts on its own.
    memory.assign(alone.sighting_id, ra.identity_id)
    assert memory.record_sighting(sighting("c3", 2, view(b, 5, 0.05), 1300.0)).identity_id == ra.identity_id

    out = memory.split(rb.sighting_id)
    assert out.created_identity and out.identity_id != ra.identity_id
    assert memory.get_sighting(rb.sighting_id).identity_id == out.identity_id
    assert rb.sighting_id not in _sources(memory, ra.identity_id)
    assert any(
        d.identity_id == ra.identity_id and d.feedback == "rejected" for d in memory.decisions(rb.sighting_id)
    )


def test_deleting_an_identity_forgets_its_rows_and_crop_files(memory, data_dir):
    alice, bob = person(1), person(2)
    a1 = memory.record_sighting(sighting("c1", 1, alice, 1000.0))
    memory.record_sighting(sighting("c2", 1, view(alice, 1), 1100.0))
    photo = Embeddings(view(alice, 2)[None, :], MODEL)
    memory.enroll(photo, crops=[np.zeros((64, 32, 3), np.uint8)], identity_id=a1.identity_id)
    memory.record_sighting(sighting("c1", 2, bob, 1200.0))
    before = memory.counts()

    removed = memory.delete_identity(a1.identity_id)
    assert removed == 3, "two sighting crops and the enrolled photo"
    after = memory.counts()
    assert after["identities"] == before["identities"] - 1 and after["sightings"] == 1
    assert memory.crop_file(a1.crop_path) is None
    files = [p for p in (data_dir / "memory").rglob("*") if p.is_file()]
    assert len(files) == 1, "only bob's crop is left"
    with pytest.raises(LookupError):
        memory.delete_identity(a1.identity_id)


def test_retention_purges_old_unconfirmed_sightings_and_keeps_confirmed_ones(memory):
    now = 100_000.0
    old_stranger = memory.record_sighting(sighting("c1", 1, person(1), 1000.0))
    old_named = memory.record_sighting(sighting("c1", 2, person(2), 1000.0))
    memory.update_identity(old_named.identity_id, name="Bob")
    regular = person(3)
    old_regular = memory.record_sighting(sighting("c1", 3, regular, 1000.0))
    recent_regular = memory.record_sighting(sighting("c2", 3, view(regular, 1), now - 10))

    worker = RetentionWorker(memory.purge, max_age_s=3600, clock=lambda: now)
    report = worker.run_once()
    assert (report.sightings, report.identities, report.files) == (2, 1, 2)
    assert memory.get_identity(old_stranger.identity_id) is None
    assert memory.get_sighting(old_named.sighting_id) is not None, "a confirmed identity is kept whole"
    assert memory.get_sighting(old_regular.sighting_id) is None
    assert memory.get_sighting(recent_regular.sighting_id) is not None
    assert memory.get_identity(recent_regular.identity_id).n_sightings == 1
    assert memory.purge(now=now, max_age_s=3600).sightings == 0, "idempotent"


def test_search_by_photo_ranks_past_sightings_with_camera_and_time_filters(memory):
    alice = person(1)
    alice_ids = set()
    for i, (cam, at) in enumerate([("c1", 1000.0), ("c2", 2000.0), ("c2", 3000.0)]):
        alice_ids.add(memory.record_sighting(sighting(cam, i, view(alice, i), at)).sighting_id)
    for i in range(6):
        memory.record_sighting(sighting("c1" if i % 2 else "c2", 10 + i, person(50 + i), 1500.0 + i))
    probe = view(alice, 99)

    found = memory.search(probe, MODEL, k=5)
    assert found.exact  # a small memory: every sighting compared
    hits = found.hits
    assert len(hits) == 5 and {h.sighting.id for h in hits[:3]} == alice_ids
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert hits[3].similarity < 0.7 < hits[2].similarity
    only_c2 = memory.search(probe, MODEL, k=2, camera_ids=["c2"]).hits
    assert {h.sighting.camera_id for h in only_c2} == {"c2"} and len(only_c2) == 2
    late = memory.search(probe, MODEL, k=1, since=2500.0).hits
    assert late[0].sighting.first_seen_at == 3000.0
    early = memory.search(probe, MODEL, k=10, until=1200.0).hits
    assert [h.sighting.first_seen_at for h in early] == [1000.0]
    assert memory.search(probe, "other-model", k=5).hits == []
    with pytest.raises(ValueError):
        memory.search(probe, MODEL, k=0)


def test_enrolled_people_are_matched_identified_and_loaded_into_the_gallery(memory):
    alice = person(1)
    ident = memory.enroll(
        Embeddings(np.stack([view(alice, 1), view(alice, 2)]), MODEL),
        name="Alice",
        crops=[np.zeros((64, 32, 3), np.uint8)] * 2,
    )
    info = memory.get_identity(ident)
    assert info.confirmed and info.n_embeddings == 2 and info.thumbnail.startswith("memory/enrolled/")
    seen = memory.record_sighting(sighting("c1", 1, view(alice, 3), 1000.0))
    assert seen.identity_id == ident and seen.verdict == "match"
    memory.record_sighting(sighting("c1", 2, person(2), 1000.0))  # unnamed: not exported

    top, sim = memory.identify(view(alice, 4), MODEL, k=1)[0]
    assert top.id == ident and sim > 0.8
    gallery = Gallery()
    assert memory.export_to_gallery(gallery, MODEL) == 1
    assert [(q.query_id, q.label) for q in gallery.identities()] == [(ident, "Alice")]
    # each view keeps its camera (cross-camera decisions): the sighting's, none for the photos
    memory.confirm(seen.sighting_id)  # pins the sighting's embedding in Alice
    memory.export_to_gallery(gallery, MODEL)
    (alice_q,) = gallery.identities()
    assert len(alice_q.view_cameras) == len(alice_q.vectors) == 3
    assert sorted(alice_q.view_cameras, key=str) == [None, None, "c1"]


def test_embeddings_of_different_models_never_meet(memory):
    alice = person(1)
    ra = memory.record_sighting(sighting("c1", 1, alice, 1000.0))
    other = memory.record_sighting(sighting("c1", 2, alice, 2000.0, model_id="other-model"))
    assert other.created_identity and other.identity_id != ra.identity_id
    short = l2_normalize(np.ones(DIM // 2, np.float32))
    assert memory.record_sighting(sighting("c1", 3, short, 3000.0)).created_identity


def test_a_sighting_without_prototype_is_skipped(memory):
    from reidcam.core.types import Sighting, SightingKey

    assert memory.record_sighting(Sighting(SightingKey("c1", 1), 1.0, 2.0, 0, None, None)) is None
    assert memory.skipped == 1 and memory.counts()["sightings"] == 0


def test_a_failed_transaction_leaves_no_crop_file(memory, data_dir, monkeypatch):
    from reidcam.identity import records

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(records, "place", boom)
    with pytest.raises(RuntimeError):
        memory.record_sighting(sighting("c1", 1, person(1), 1000.0))
    assert memory.counts()["sightings"] == 0
    assert not [p for p in (data_dir / "memory").rglob("*") if p.is_file()]


def test_postgres_search_uses_the_pgvector_hnsw_index(memory):
    if memory.engine.dialect.name != "postgresql":
        pytest.skip("pgvector only exists on PostgreSQL")
    for i in range(20):
        memory.record_sighting(sighting("c1", i, person(i), 1000.0 + i))
    with memory.engine.connect() as conn:
        names = set(conn.exec_driver_sql("SELECT indexname FROM pg_indexes").scalars())
        assert {f"ix_sightings_prototype_hnsw_{DIM}", f"ix_identity_embeddings_vector_hnsw_{DIM}"} <= names
        conn.exec_driver_sql("SET enable_seqscan = off")
        q = "[" + ",".join("0.1" for _ in range(DIM)) + "]"
        plan = "\n".join(
            conn.exec_driver_sql(
                f"EXPLAIN SELECT id FROM sightings WHERE model_id = 'm' AND dim = {DIM} "
                f"ORDER BY prototype::vector({DIM}) <=> '{q}'::vector({DIM}) LIMIT 5"
            ).scalars()
        )
    assert f"ix_sightings_prototype_hnsw_{DIM}" in plan


def _settings_seen_by_searches(memory, **search_args):
    """hnsw.ef_search / iterative_scan in the session when the search's pgvector query ran."""
    seen = []

    def after(conn, _cursor, statement, *_):
        if "<=>" in statement:
            seen.append(
                conn.exec_driver_sql(
                    "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
                ).one()
            )

    sa.event.listen(memory.engine, "after_cursor_execute", after)
    try:
        hits = memory.search(view(person(3), 9), MODEL, exact_max_rows=0, **search_args).hits
    finally:
        sa.event.remove(memory.engine, "after_cursor_execute", after)
    return hits, seen


def test_postgres_search_widens_the_hnsw_beam_for_this_search_only(memory):
    if memory.engine.dialect.name != "postgresql":
        pytest.skip("pgvector only exists on PostgreSQL")
    for i in range(20):
        memory.record_sighting(sighting("c1", i, person(i), 1000.0 + i))

    hits, seen = _settings_seen_by_searches(memory, k=10)
    assert seen == [("200", "strict_order")]  # search_ef(10): 20 per hit, not pgvector's 40
    assert len(hits) == 10 and hits[0].sighting.identity_id
    _, seen = _settings_seen_by_searches(memory, k=100)
    assert seen == [("1000", "strict_order")]  # capped at pgvector's maximum
    _, seen = _settings_seen_by_searches(memory, k=5, ef_search=64)
    assert seen == [("64", "strict_order")]
    with memory.engine.connect() as conn:  # SET LOCAL: a pooled session keeps pgvector's default
        assert conn.exec_driver_sql("SHOW hnsw.ef_search").scalar() == "40"


def test_postgres_search_is_exact_while_the_filters_leave_few_sightings(memory):
    """Up to ``exact_max_rows`` candidates every one is compared (no HNSW index scan, the same
    ranking as an exact scan); past it the index answers and the result says it is approximate."""
    if memory.engine.dialect.name != "postgresql":
        pytest.skip("pgvector only exists on PostgreSQL")
    for i in range(30):
        memory.record_sighting(sighting("c1" if i < 20 else "c2", i, person(i), 1000.0 + i))
    probe = view(person(3), 9)

    def hnsw_scans() -> int:
        with memory.engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            return int(conn.execute(
                sa.text("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
                        "WHERE relname = 'sightings' AND indexrelname LIKE :hnsw"),
                {"hnsw": "%hnsw%"},
            ).scalar())  # fmt: skip

    before = hnsw_scans()
    exact = memory.search(probe, MODEL, k=5, exact_max_rows=30)
    assert exact.exact and exact.hits[0].sighting.track_id == 3
    ranked = sorted(exact.hits, key=lambda h: -h.similarity)
    assert [h.sighting.id for h in exact.hits] == [h.sighting.id for h in ranked]
    narrowed = memory.search(probe, MODEL, k=5, camera_ids=["c2"], exact_max_rows=10)  # 10 of 30
    assert narrowed.exact and {h.sighting.camera_id for h in narrowed.hits} == {"c2"}
    time.sleep(0.6)  # the statistics collector's flush
    assert hnsw_scans() == before, "an exact search never walks the HNSW graph"
    wide = memory.search(probe, MODEL, k=5, exact_max_rows=29)
    assert not wide.exact and wide.hits[0].sighting.track_id == 3
    time.sleep(0.6)
    assert hnsw_scans() > before, "past the bound the index answers"
    with memory.engine.connect() as conn:  # the planner setting was for that search only
        assert conn.exec_driver_sql("SHOW enable_indexscan").scalar() == "on"


def test_search_ef_grows_with_k_within_pgvector_s_bounds():
    from reidcam.storage.vector_ops import search_ef

    assert [search_ef(k) for k in (1, 2, 10, 20, 50, 51, 500)] == [40, 40, 200, 400, 1000, 1000, 1000]


def test_settings_are_validated():
    with pytest.raises(ValueError):
        IdentitySettings(threshold=2.0)


def test_a_view_stored_again_by_a_looping_camera_is_found_once(memory):
    """A demo file camera loops: the same crop is stored again each time round. Search lists
    that view once and says how many repeats it left out; distinct sightings all stay."""
    same = view(person(1), 1)
    for loop in range(4):
        memory.record_sighting(sighting("c1", 1, same, 1000.0 + 100 * loop))
    other_views = [
        memory.record_sighting(sighting("c1", 10 + i, view(person(1), 20 + i), 2000.0 + i)) for i in range(3)
    ]
    found = memory.search(same, MODEL, k=4)
    assert found.repeats == 3
    assert len(found.hits) == 4 and found.hits[0].similarity > 0.999
    assert {h.sighting.id for h in found.hits[1:]} == {r.sighting_id for r in other_views}
    for loop in range(4, 12):  # repeats enough to fill a first fetch of 3 k
        memory.record_sighting(sighting("c1", 1, same, 1000.0 + 100 * loop))
    found = memory.search(same, MODEL, k=2)
    assert len(found.hits) == 2 and found.repeats >= 5, "a wider fetch finds the distinct views"
