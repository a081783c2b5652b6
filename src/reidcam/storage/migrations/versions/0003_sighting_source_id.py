"""Sightings keep the id they were published under on the broker, unique.

The memory service (``reidcam memory``) receives each closed sighting from a JetStream
work queue that may deliver it again (its reader died before the ack, or the worker re-sent it
after the broker's de-duplication window). It commits idempotently by this id: a sighting whose
``source_id`` is stored already is acknowledged, not stored twice. Rows recorded in-process
before (and after) this revision keep NULL, which a unique index allows any number of times.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable ADD COLUMN and a new index: no table rebuild on SQLite, no rewrite on PostgreSQL.
    op.add_column("sightings", sa.Column("source_id", sa.String(128), nullable=True))
    op.create_index("ix_sightings_source_id", "sightings", ["source_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_sightings_source_id", table_name="sightings")
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("source_id")
