"""The tables, as SQLAlchemy Core (the migrations in ``migrations/versions`` create them).

Ids minted here are text (``sig_...``, ``idn_...``): they never look like a tracker's integer
track id, and a process can name a sighting (and its crop file) before its row is committed.
Times are epoch seconds (float) in ``*_at`` columns. Crop images are files under the data
directory; rows hold their path relative to it.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class VectorType(TypeDecorator[NDArray[np.float32]]):
    """An embedding: pgvector ``vector`` on PostgreSQL, float32 bytes elsewhere.

    The column has no fixed dimension (several models may share a table); each row carries
    ``dim`` and ``model_id``, and the ANN indexes are partial per dimension (see ``vector_ops``).
    """

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from pgvector.sqlalchemy import VECTOR

            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        arr = np.ascontiguousarray(value, dtype=np.float32).reshape(-1)
        return arr if dialect.name == "postgresql" else arr.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> NDArray[np.float32] | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return np.frombuffer(bytes(value), dtype=np.float32).copy()
        return np.asarray(value, dtype=np.float32)


def new_id(prefix: str) -> str:
    """A random id like ``sig_3f9c0a1b2c3d4e5f6a7b`` (80 random bits)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


SIGHTING_PREFIX = "sig"
IDENTITY_PREFIX = "idn"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

cameras = sa.Table(
    "cameras",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("created_at", sa.Float, nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float),
    # Set when a user vouched for this identity (named, enrolled, confirmed a sighting):
    # retention never purges a confirmed identity's sightings.
    sa.Column("confirmed_at", sa.Float),
    sa.Index("ix_identities_last_seen_at", "last_seen_at"),
)

sightings = sa.Table(
    "sightings",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("camera_id", sa.String(64), sa.ForeignKey("cameras.id"), nullable=False),
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("part", sa.Integer, nullable=False, server_default="0"),
    sa.Column("identity_id", sa.String(32), sa.ForeignKey("identities.id", ondelete="CASCADE")),
    sa.Column("first_seen_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("n_embeddings", sa.Integer, nullable=False),
    sa.Column("model_id", sa.String(128), nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("prototype", VectorType(), nullable=False),
    sa.Column("crop_path", sa.String(400)),
    sa.Column("crop_quality", sa.Float),
    sa.Column("crop_box", sa.JSON),
    sa.Column("crop_frame", sa.String(400)),
    sa.Column("created_at", sa.Float, nullable=False),
    # The id the sighting was published under on the broker (minted by the worker that closed
    # it), NULL for one recorded in-process: unique, so a redelivered or re-sent sighting is
    # stored once (the memory service commits idempotently by it). Added by 0003.
    sa.Column("source_id", sa.String(128)),
    sa.Index("ix_sightings_identity_seen", "identity_id", "first_seen_at"),
    # Serves "who was on this camera at that time" (the overlap check) as a short range scan.
    sa.Index("ix_sightings_camera_last_seen", "camera_id", "last_seen_at"),
    sa.Index("ix_sightings_model_seen", "model_id", "first_seen_at"),
    sa.Index("ix_sightings_last_seen_at", "last_seen_at"),
    sa.Index("ix_sightings_source_id", "source_id", unique=True),
)

identity_embeddings = sa.Table(
    "identity_embeddings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "identity_id", sa.String(32), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False
    ),
    # The sighting it came from (None for an enrolled photo); deleting the sighting deletes it.
    sa.Column("sighting_id", sa.String(32), sa.ForeignKey("sightings.id", ondelete="CASCADE")),
    sa.Column("model_id", sa.String(128), nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", VectorType(), nullable=False),
    # 'sighting' (automatic, may be evicted), 'confirmed' or 'enrolled' (a user's, kept).
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("crop_path", sa.String(400)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_identity_embeddings_identity", "identity_id"),
    sa.Index("ix_identity_embeddings_model", "model_id"),
    sa.Index("ix_identity_embeddings_sighting", "sighting_id"),
)

match_decisions = sa.Table(
    "match_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "sighting_id", sa.String(32), sa.ForeignKey("sightings.id", ondelete="CASCADE"), nullable=False
    ),
    # The identity this decision is about: the one joined or founded, or the one a user rejected.
    sa.Column(
        "identity_id", sa.String(32), sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("model_id", sa.String(128), nullable=False),
    # Similarity to identity_id (None when the sighting founded it), runner-up: the best other.
    sa.Column("similarity", sa.Float),
    sa.Column("runner_up_id", sa.String(32), sa.ForeignKey("identities.id", ondelete="SET NULL")),
    sa.Column("runner_up_similarity", sa.Float),
    sa.Column("threshold", sa.Float, nullable=False),
    # 'match', 'uncertain' (joined, not enriched), 'new' (founded), 'manual' (a user's move).
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    # The quorum behind an automatic decision: the identity's kept embeddings compared with and
    # how many were at or above the threshold (None: a user's move, or decided before 0002).
    sa.Column("n_members", sa.Integer),
    sa.Column("n_agree", sa.Integer),
    sa.Column("decided_at", sa.Float, nullable=False),
    # A user's word: 'accepted' or 'rejected'; a rejection is never matched again.
    sa.Column("feedback", sa.String(16)),
    sa.Column("feedback_at", sa.Float),
    sa.Index("ix_match_decisions_sighting", "sighting_id"),
    sa.Index("ix_match_decisions_identity", "identity_id"),
)

SOURCE_SIGHTING = "sighting"
SOURCE_CONFIRMED = "confirmed"
SOURCE_ENROLLED = "enrolled"
PINNED_SOURCES = (SOURCE_CONFIRMED, SOURCE_ENROLLED)
