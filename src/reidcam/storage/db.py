"""Database engine from a URL and schema migrations at startup.

SQLite (the default, a file in the data directory) runs in WAL mode with foreign keys on and a
busy timeout, so the web threads can read while the writer thread commits, and a process killed
mid-write loses at most the transaction it had not committed. PostgreSQL (``postgresql://`` or
``postgresql+psycopg://``) is used through psycopg 3 and needs the pgvector extension.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from reidcam.core.errors import DependencyError, ReidcamError

log = logging.getLogger(__name__)

DB_FILENAME = "reidcam.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "reidcam_write"


class StorageError(ReidcamError):
    """The database cannot be opened, migrated or written."""


def default_url(data_dir: Path) -> str:
    """The zero-setup database: ``<data_dir>/reidcam.db``."""
    return f"sqlite:///{(Path(data_dir) / DB_FILENAME).resolve()}"


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def _normalise_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url``, configured for this project's access pattern.

    Raises:
        DependencyError: a PostgreSQL URL but psycopg 3 / pgvector are not installed.
        StorageError: an unsupported database.
    """
    parsed = _normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        _require_postgres_packages()
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise StorageError(f"unsupported database {backend!r} in {parsed!r}: use sqlite:/// or postgresql://")


def _require_postgres_packages() -> None:
    try:
        import pgvector  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            f"PostgreSQL storage needs psycopg 3 and pgvector ({exc.name} is missing): "
            "pip install 'reidcam[postgres]'"
        ) from exc


def _sqlite_engine(url: sa.URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module (it skips BEGIN before SELECT and
        # DDL), so every SQLAlchemy transaction is a real SQLite transaction.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a killed process; only a power cut may lose
        # the last transactions, never corrupt the file.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and then
        # writes fails at once with SQLITE_BUSY when another connection committed meanwhile.
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commits on success, rolls back on any exception."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """One read transaction (a consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def alembic_config(connection: Connection | None = None) -> Any:
    """The alembic Config of the migrations shipped inside the package."""
    try:
        from alembic.config import Config
    except ImportError as exc:  # pragma: no cover - alembic is a runtime dependency
        raise DependencyError("storage migrations need alembic: pip install alembic") from exc
    cfg = Config()
    cfg.set_main_option("script_location", "reidcam.storage:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent); run at every startup.

    Raises:
        StorageError: a migration failed (the transaction is rolled back).
    """
    from alembic import command

    try:
        with write_tx(engine) as conn:
            command.upgrade(alembic_config(conn), revision)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"database migration to {revision} failed: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
