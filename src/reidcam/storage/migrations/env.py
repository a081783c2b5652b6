"""Alembic environment: migrate the connection handed over by ``reidcam.storage.db.upgrade``.

Run from the command line (``alembic -x url=sqlite:///data/reidcam.db revision --autogenerate``),
it opens that URL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from reidcam.storage.db import make_engine
from reidcam.storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database with: alembic -x url=sqlite:///path/to/reidcam.db ...")
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


main()
