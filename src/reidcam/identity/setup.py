"""Build the identity memory from the app config (what ``serve`` and ``run`` call at startup)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from reidcam.config import AppConfig
from reidcam.identity.memory import IdentityMemory
from reidcam.identity.models import DAY_S, IdentitySettings
from reidcam.identity.retention import RetentionWorker
from reidcam.identity.topology import topology_from_config
from reidcam.reid.registry import REGISTRY

log = logging.getLogger(__name__)

DEFAULT_IDENTITY_THRESHOLD = 0.65


@dataclass(frozen=True)
class JoinThreshold:
    """The identity memory's join threshold and where it came from (for logs and docs)."""

    value: float
    source: str


def match_threshold(cfg: AppConfig) -> float:
    """The single-match threshold: ``matcher.threshold``, else the ReID model's recommended one."""
    if cfg.matcher.threshold is not None:
        return cfg.matcher.threshold
    spec = REGISTRY.get(cfg.reid.model)
    if spec is not None and spec.threshold is not None:
        return float(spec.threshold)
    return DEFAULT_IDENTITY_THRESHOLD


def _calibrated(cfg: AppConfig, floor: float) -> JoinThreshold | None:
    """The threshold ``matcher.calibration``'s curve gives for ``identity.target_fmr``, if it can.

    A curve measured on fewer different-people pairs than 1 / target cannot resolve the target
    (one false match more or less is more than the target): then None.
    """
    if cfg.matcher.calibration is None:
        return None
    from reidcam.match.calibration import load_calibration

    cal = load_calibration(cfg.matcher.calibration)
    target = cfg.identity.target_fmr
    if cal is None or cal.model_id != cfg.reid.model or cal.num_different * target < 1.0:
        return None
    for t, fmr, _tpr in cal.curve:
        if fmr <= target:
            return JoinThreshold(max(round(t, 4), floor), f"calibration at FMR {target:g}")
    return None


def identity_threshold(cfg: AppConfig) -> JoinThreshold:
    """``storage.identity_threshold`` (the user's explicit word), else the calibrated threshold for
    ``identity.target_fmr``, else the match threshold plus ``identity.uncalibrated_extra``.

    Never below the single-match threshold unless the user set it so: joining a person for good
    is a stronger claim than one match.
    """
    if cfg.storage.identity_threshold is not None:
        return JoinThreshold(cfg.storage.identity_threshold, "storage.identity_threshold")
    base = match_threshold(cfg)
    calibrated = _calibrated(cfg, base)
    if calibrated is not None:
        return calibrated
    value = min(1.0, round(base + cfg.identity.uncalibrated_extra, 4))
    return JoinThreshold(
        value, f"match threshold {base:g} + identity.uncalibrated_extra (no calibrated curve)"
    )


def settings_from_config(cfg: AppConfig) -> IdentitySettings:
    st = cfg.storage
    join = identity_threshold(cfg)
    log.info(
        "identity memory joins at similarity %.3f (%s), quorum %.2f",
        join.value,
        join.source,
        cfg.identity.quorum,
    )
    return IdentitySettings(
        threshold=join.value,
        quorum=cfg.identity.quorum,
        margin=st.identity_margin,
        max_embeddings_per_identity=st.max_embeddings_per_identity,
        retention_max_age_s=None if st.retention_days is None else st.retention_days * DAY_S,
        jpeg_quality=cfg.output.jpeg_quality,
        topology=topology_from_config(cfg.cameras),
    )


def open_memory(cfg: AppConfig, data_dir: Path) -> IdentityMemory:
    """Open (and migrate) the configured database; crops go under ``data_dir``.

    Raises:
        StorageError, DependencyError: see :meth:`IdentityMemory.open`.
    """
    return IdentityMemory.open(Path(data_dir), url=cfg.storage.url, settings=settings_from_config(cfg))


def retention_worker(cfg: AppConfig, memory: IdentityMemory) -> RetentionWorker:
    """The background purge, not started (the web app's lifespan starts and stops it)."""
    return RetentionWorker(memory.purge, interval_s=cfg.storage.purge_interval_s)
