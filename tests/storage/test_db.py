"""Engine, migrations and crop-file housekeeping."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from storage_support import pg_admin

from reidcam.storage import tables as t
from reidcam.storage.db import StorageError, current_revision, make_engine, upgrade
from reidcam.storage.files import remove_files, safe_path, sweep


def test_upgrade_is_idempotent_and_reaches_head(db_url):
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)  # every startup runs it
    assert current_revision(engine) == "0003"
    names = set(sa.inspect(engine).get_table_names())
    assert {"cameras", "identities", "identity_embeddings", "sightings", "match_decisions"} <= names
    engine.dispose()


def test_tables_module_matches_the_migrations(db_url):
    """tables.py (what the code queries) and the migrations (what the database has) agree."""
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(ctx, t.metadata)
    engine.dispose()
    assert diffs == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'r.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()


def test_a_bare_postgres_database_gets_pgvector_from_the_first_migration(pg_server):
    name = f"bare_{uuid.uuid4().hex[:8]}"
    admin = pg_admin(pg_server)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = make_engine(pg_server.get_uri(database=name))
    try:
        upgrade(engine)
        with engine.connect() as conn:
            ext = conn.exec_driver_sql(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).scalar()
            kind = conn.exec_driver_sql(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'sightings'::regclass AND attname = 'prototype'"
            ).scalar()
        assert ext is not None and kind == "vector"
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()


def test_postgres_urls_use_psycopg3_and_unknown_databases_are_refused():
    engine = make_engine("postgresql://user@localhost/reidcam")  # no connection is made
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
    with pytest.raises(StorageError, match="unsupported database"):
        make_engine("mysql://user@localhost/reidcam")


def test_safe_path_refuses_escapes(tmp_path):
    assert safe_path(tmp_path, "memory/a.jpg") == (tmp_path / "memory/a.jpg").resolve()
    for bad in ("../x.jpg", "/etc/passwd", "memory/../../x", "", "memory/a.jpg\x00../../x"):
        assert safe_path(tmp_path, bad) is None
    n, errors = remove_files(tmp_path, ["../outside.jpg"])
    assert n == 0 and errors


def test_sweep_removes_temp_and_unreferenced_files_but_not_young_ones(tmp_path):
    folder = tmp_path / "memory" / "sightings" / "c1"
    folder.mkdir(parents=True)
    for name in ("keep.jpg", "orphan.jpg", ".tmp-abc.jpg", "young.jpg"):
        (folder / name).write_bytes(b"x")
    old = time.time() - 3600
    for name in ("keep.jpg", "orphan.jpg", ".tmp-abc.jpg"):
        os.utime(folder / name, (old, old))
    report = sweep(tmp_path, "memory", {"memory/sightings/c1/keep.jpg"}, min_age_s=60)
    assert (report.temp_files, report.orphans) == (1, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["keep.jpg", "young.jpg"]
