"""Assemble the runner from a config: resolve weights, load models, open cameras."""

from __future__ import annotations

import logging
from pathlib import Path

from reidcam.capture import open_source
from reidcam.config import AppConfig
from reidcam.detect import build_detector
from reidcam.match import Gallery, Matcher, MatcherSettings
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.events import EventSink
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import Models
from reidcam.pipeline.threads import ThreadPlan, apply_thread_settings
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.base import Embedder
from reidcam.reid.crops import CropGate
from reidcam.reid.registry import REGISTRY
from reidcam.reid.weights import resolve_weights
from reidcam.track import build_tracker

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.6


def _weights(cfg: AppConfig, name_or_path: str) -> Path:
    return resolve_weights(name_or_path, cfg.weights.dir, cfg.weights.allow_download)


def default_threshold(cfg: AppConfig) -> float:
    """The configured threshold, else the one recommended for the ReID model."""
    if cfg.matcher.threshold is not None:
        return cfg.matcher.threshold
    spec = REGISTRY.get(cfg.reid.model)
    return spec.threshold if spec is not None and spec.threshold is not None else DEFAULT_THRESHOLD


def build_embedder_from_config(cfg: AppConfig, plan: ThreadPlan | None = None) -> Embedder:
    """The ReID model; ``reid.threads`` else the thread plan's inference threads."""
    plan = plan or apply_thread_settings(cfg.performance)
    reid = (
        cfg.reid
        if cfg.reid.threads is not None
        else cfg.reid.model_copy(update={"threads": plan.inference_threads})
    )
    return build_embedder(reid, _weights(cfg, cfg.reid.weights or cfg.reid.model))


def build_models(cfg: AppConfig, embedder: Embedder | None = None, gallery: Gallery | None = None) -> Models:
    """Load the detector and embedder once; they serve every camera.

    Raises:
        WeightsError, DependencyError: weights missing or a runtime not installed.
    """
    plan = apply_thread_settings(cfg.performance)
    weights = _weights(cfg, cfg.detector.weights)
    detector = build_detector(cfg.detector, weights, plan.inference_threads, plan.detector_workers)
    settings = MatcherSettings(default_threshold(cfg), cfg.matcher.margin, cfg.matcher.uncertain_band)
    return Models(
        detector=detector,
        embedder=embedder or build_embedder_from_config(cfg, plan),
        gallery=gallery or Gallery(),
        matcher=Matcher(settings),
        gate=CropGate.from_config(cfg.reid),
        max_crops_per_step=cfg.performance.max_crops_per_step,
    )


def build_cameras(cfg: AppConfig) -> list[CameraUnit]:
    """One unit per enabled camera, each with its own tracker and sighting book."""
    units = []
    for cam in cfg.cameras:
        if not cam.enabled:
            continue
        book = SightingBook(
            cam.id,
            max_embeddings=cfg.reid.max_embeddings_per_sighting,
            embed_interval_frames=cfg.reid.embed_interval_frames,
            max_missing_frames=cfg.tracker.track_buffer,
            switch_similarity=cfg.reid.switch_similarity,
            reembed_height_change=cfg.performance.reembed_height_change,
        )
        unit = CameraUnit(cam.id, open_source(cam), build_tracker(cfg.tracker), book)
        unit.detector_imgsz = cam.detector_imgsz
        units.append(unit)
    return units


def build_runner(cfg: AppConfig, models: Models, sink: EventSink | None = None) -> Runner:
    perf = cfg.performance
    return Runner(
        build_cameras(cfg), models, sink, prefetch_frames=perf.capture_queue_frames, pipelined=perf.pipelined
    )
