"""The first tables: cameras, identities, identity embeddings, sightings, match decisions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _vector_type() -> sa.types.TypeEngine[Any]:
    """pgvector's ``vector`` (no fixed dimension) on PostgreSQL, float32 bytes elsewhere."""
    if op.get_bind().dialect.name == "postgresql":
        from pgvector.sqlalchemy import VECTOR

        return VECTOR()
    return sa.LargeBinary()


def _ensure_pgvector() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    have = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'vector'").scalar()
    if not have:
        available = bind.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).scalar()
        if not available:
            raise RuntimeError(
                "the PostgreSQL server has no pgvector extension: install pgvector on the server "
                "(https://github.com/pgvector/pgvector) or use the default SQLite storage"
            )
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")


def upgrade() -> None:
    _ensure_pgvector()
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float),
        sa.Column("confirmed_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
    )
    op.create_index("ix_identities_last_seen_at", "identities", ["last_seen_at"])
    _create_sightings()
    _create_identity_embeddings()
    _create_match_decisions()


def _create_sightings() -> None:
    op.create_table(
        "sightings",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("track_id", sa.Integer, nullable=False),
        sa.Column("part", sa.Integer, nullable=False, server_default="0"),
        sa.Column("identity_id", sa.String(32)),
        sa.Column("first_seen_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
        sa.Column("n_embeddings", sa.Integer, nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("prototype", _vector_type(), nullable=False),
        sa.Column("crop_path", sa.String(400)),
        sa.Column("crop_quality", sa.Float),
        sa.Column("crop_box", sa.JSON),
        sa.Column("crop_frame", sa.String(400)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sightings"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_sightings_camera_id_cameras"),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_sightings_identity_id_identities",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sightings_identity_seen", "sightings", ["identity_id", "first_seen_at"])
    op.create_index("ix_sightings_camera_last_seen", "sightings", ["camera_id", "last_seen_at"])
    op.create_index("ix_sightings_model_seen", "sightings", ["model_id", "first_seen_at"])
    op.create_index("ix_sightings_last_seen_at", "sightings", ["last_seen_at"])


def _create_identity_embeddings() -> None:
    op.create_table(
        "identity_embeddings",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("identity_id", sa.String(32), nullable=False),
        sa.Column("sighting_id", sa.String(32)),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", _vector_type(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("crop_path", sa.String(400)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_embeddings"),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_identity_embeddings_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sightings.id"],
            name="fk_identity_embeddings_sighting_id_sightings",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_identity_embeddings_identity", "identity_embeddings", ["identity_id"])
    op.create_index("ix_identity_embeddings_model", "identity_embeddings", ["model_id"])
    op.create_index("ix_identity_embeddings_sighting", "identity_embeddings", ["sighting_id"])


def _create_match_decisions() -> None:
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("sighting_id", sa.String(32), nullable=False),
        sa.Column("identity_id", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("similarity", sa.Float),
        sa.Column("runner_up_id", sa.String(32)),
        sa.Column("runner_up_similarity", sa.Float),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("decided_at", sa.Float, nullable=False),
        sa.Column("feedback", sa.String(16)),
        sa.Column("feedback_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_match_decisions"),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sightings.id"],
            name="fk_match_decisions_sighting_id_sightings",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_match_decisions_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runner_up_id"],
            ["identities.id"],
            name="fk_match_decisions_runner_up_id_identities",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_match_decisions_sighting", "match_decisions", ["sighting_id"])
    op.create_index("ix_match_decisions_identity", "match_decisions", ["identity_id"])


def downgrade() -> None:
    for table in ("match_decisions", "identity_embeddings", "sightings", "identities", "cameras"):
        op.drop_table(table)
