"""Build the identity memory from the app config (what ``serve`` and ``run`` call at startup)."""

from __future__ import annotations

from pathlib import Path

from reidcam.config import AppConfig
from reidcam.identity.memory import IdentityMemory
from reidcam.identity.models import DAY_S, IdentitySettings
from reidcam.identity.retention import RetentionWorker
from reidcam.reid.registry import REGISTRY

DEFAULT_IDENTITY_THRESHOLD = 0.65


def identity_threshold(cfg: AppConfig) -> float:
    """``storage.identity_threshold``, else the ReID model's recommended threshold."""
    if cfg.storage.identity_threshold is not None:
        return cfg.storage.identity_threshold
    spec = REGISTRY.get(cfg.reid.model)
    if spec is not None and spec.threshold is not None:
        return float(spec.threshold)
    return DEFAULT_IDENTITY_THRESHOLD


def settings_from_config(cfg: AppConfig) -> IdentitySettings:
    st = cfg.storage
    return IdentitySettings(
        threshold=identity_threshold(cfg),
        margin=st.identity_margin,
        max_embeddings_per_identity=st.max_embeddings_per_identity,
        retention_max_age_s=None if st.retention_days is None else st.retention_days * DAY_S,
        jpeg_quality=cfg.output.jpeg_quality,
    )


def open_memory(cfg: AppConfig, data_dir: Path) -> IdentityMemory:
    """Open (and migrate) the configured database; crops go under ``data_dir``.

    Raises:
        StorageError, DependencyError: see :meth:`IdentityMemory.open`.
    """
    return IdentityMemory.open(Path(data_dir), url=cfg.storage.url, settings=settings_from_config(cfg))


def retention_worker(cfg: AppConfig, memory: IdentityMemory) -> RetentionWorker:
    """The background purge, not started (the web app's lifespan starts and stops it)."""
    return RetentionWorker(memory, interval_s=cfg.storage.purge_interval_s)
