"""Match decisions record the quorum behind them: members compared and members agreeing.

The identity memory now joins a sighting to an identity only when it agrees with most of the
identity's kept embeddings (not with its single nearest one). Rows decided before this revision
keep NULL in both columns: they were decided by the nearest member.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN of nullable columns: no table rebuild on SQLite, instant on PostgreSQL.
    op.add_column("match_decisions", sa.Column("n_members", sa.Integer(), nullable=True))
    op.add_column("match_decisions", sa.Column("n_agree", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_decisions") as batch:
        batch.drop_column("n_agree")
        batch.drop_column("n_members")
