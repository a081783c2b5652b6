"""Assemble the runner from a config: resolve weights, load models, open cameras."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from reidcam.capture import FailedSource, ImageFolderSource, list_images, open_source
from reidcam.capture.base import FrameSource
from reidcam.capture.stills import looks_like_stills
from reidcam.capture.urls import describe_source
from reidcam.config import AppConfig, CameraConfig
from reidcam.core.errors import ConfigError, SourceError, WeightsError
from reidcam.core.events import EventSink
from reidcam.detect import build_detector
from reidcam.devices import Placement
from reidcam.match import Gallery, Matcher, MatcherSettings
from reidcam.match.autocal import AutocalSettings, SeparationEstimator
from reidcam.match.autocal_store import autocal_path, load_estimator
from reidcam.pipeline.calibration import CalibrationFeed
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.pipeline.step import Models, PersonCheck
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.base import Embedder
from reidcam.reid.crop_gate import CropGate
from reidcam.reid.registry import REGISTRY
from reidcam.reid.weights import resolve_weights
from reidcam.runtime.threads import ThreadPlan, apply_thread_settings
from reidcam.track import build_tracker
from reidcam.track.stills import StillsTracker

if TYPE_CHECKING:
    from reidcam.match.calibration import Calibration

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.6
DEFAULT_UNCERTAIN_BAND = 0.05


def _weights(cfg: AppConfig, name_or_path: str) -> Path:
    return resolve_weights(name_or_path, cfg.weights.dir, cfg.weights.allow_download)


def model_threshold(cfg: AppConfig, calibration: Calibration | None = None) -> float | None:
    """The model's calibrated threshold: its calibration's, else the registry's; None if neither."""
    if calibration is not None:
        return calibration.threshold
    spec = REGISTRY.get(cfg.reid.model)
    return spec.threshold if spec is not None else None


def default_threshold(cfg: AppConfig) -> float:
    """The configured threshold, else the one recommended for the ReID model."""
    if cfg.matcher.threshold is not None:
        return cfg.matcher.threshold
    recommended = model_threshold(cfg)
    return recommended if recommended is not None else DEFAULT_THRESHOLD


def autocal_settings(cfg: AppConfig) -> AutocalSettings:
    m = cfg.matcher
    return AutocalSettings(m.target_fmr, m.min_tmr, m.min_negative_pairs, m.min_positive_pairs)


def camera_sources(cfg: AppConfig) -> dict[str, str]:
    """Camera id -> its source as the calibration file records it (credentials redacted)."""
    return {cam.id: describe_source(cam.source) for cam in cfg.cameras}


def calibration_feed(cfg: AppConfig, model_id: str, data_dir: Path | None) -> CalibrationFeed | None:
    """The self-calibration's estimator, loaded from ``data_dir`` when given (None: it is off)."""
    if not cfg.matcher.self_calibrate:
        return None
    settings, sources = autocal_settings(cfg), camera_sources(cfg)
    if data_dir is None:
        return CalibrationFeed(SeparationEstimator(model_id, settings, sources), None)
    path = autocal_path(data_dir)
    est = load_estimator(path, model_id, settings, sources)
    return CalibrationFeed(est, path, cfg.matcher.autocal_save_interval_s)


def configured_calibration(cfg: AppConfig, model_id: str) -> Calibration | None:
    """The calibration named by ``matcher.calibration``; None when none is configured.

    A calibration is a statement about one model's similarities, so one made for another
    model is refused rather than silently applied.

    Raises:
        ConfigError: the file is missing or unreadable, or calibrates another model.
    """
    if cfg.matcher.calibration is None:
        return None
    from reidcam.match.calibration import load_calibration

    cal = load_calibration(cfg.matcher.calibration)
    if cal is None:
        raise ConfigError(
            f"matcher.calibration: no readable calibration.json at {cfg.matcher.calibration} "
            "(make one with `reidcam calibrate`)"
        )
    if cal.model_id != model_id:
        raise ConfigError(
            f"matcher.calibration {cfg.matcher.calibration} is for model {cal.model_id!r}, "
            f"but the ReID model is {model_id!r}: calibrate this model first"
        )
    return cal


def matcher_settings(cfg: AppConfig, calibration: Calibration | None = None) -> MatcherSettings:
    """Threshold and uncertain band: explicit config, else the calibration, else the defaults."""
    m = cfg.matcher
    threshold, band = default_threshold(cfg), DEFAULT_UNCERTAIN_BAND
    if calibration is not None:
        threshold = calibration.threshold
        band = max(0.0, round(calibration.threshold - calibration.uncertain_below, 4))
    if m.threshold is not None:
        threshold = m.threshold
    if m.uncertain_band is not None:
        band = m.uncertain_band
    return MatcherSettings(threshold, m.margin, band)


def build_person_check(cfg: AppConfig) -> PersonCheck | None:
    """The pose person check of ``detector.person_check``; None when off.

    Raises:
        WeightsError: 'pose' and its weights are missing ('auto' then logs a warning instead).
    """
    d = cfg.detector
    if d.person_check == "off":
        return None
    try:
        path = _weights(cfg, d.person_check_weights)
    except WeightsError as exc:
        if d.person_check == "pose":
            raise
        log.warning("person check off (detector.person_check: auto): %s", exc)
        return None
    from reidcam.detect.person_check import PoseCheck

    return PoseCheck(path, d.person_check_min_keypoints)


def placement_from_config(cfg: AppConfig) -> Placement:
    """Resolve ``performance.device`` / ``precision`` once (logged), for every model of a run.

    Raises:
        DeviceError: 'cuda' asked for and none usable.
    """
    from reidcam.devices.probe import placement_for

    return placement_for(cfg.performance.device, cfg.performance.precision)


def thread_plan(cfg: AppConfig) -> ThreadPlan:
    """Apply the config's ``performance`` thread settings (see ``runtime.threads``)."""
    perf = cfg.performance
    return apply_thread_settings(perf.threads, pipelined=perf.pipelined, opencv_threads=perf.opencv_threads)


def build_embedder_from_config(
    cfg: AppConfig, plan: ThreadPlan | None = None, placement: Placement | None = None
) -> Embedder:
    """The ReID model; ``reid.threads`` else the thread plan's inference threads."""
    plan = plan or thread_plan(cfg)
    placement = placement or placement_from_config(cfg)
    reid = (
        cfg.reid
        if cfg.reid.threads is not None
        else cfg.reid.model_copy(update={"threads": plan.inference_threads})
    )
    return build_embedder(reid, _weights(cfg, cfg.reid.weights or cfg.reid.model), placement)


def build_models(
    cfg: AppConfig,
    embedder: Embedder | None = None,
    gallery: Gallery | None = None,
    data_dir: Path | None = None,
    placement: Placement | None = None,
) -> Models:
    """Load the detector and embedder once, on the configured device; they serve every camera.

    ``data_dir``: where the per-camera self-calibration is kept (``autocal.json``); None keeps
    it in memory for this run only.

    Raises:
        WeightsError, DependencyError: weights missing or a runtime not installed.
        ConfigError: ``matcher.calibration`` unreadable or made for another model;
        DeviceError: 'cuda' asked for and none usable.
    """
    plan = thread_plan(cfg)
    placement = placement or placement_from_config(cfg)
    weights = _weights(cfg, cfg.detector.weights)
    detector = build_detector(cfg.detector, weights, plan.inference_threads, plan.detector_workers, placement)
    embedder = embedder or build_embedder_from_config(cfg, plan, placement)
    calibration = configured_calibration(cfg, embedder.model_id)
    feed = calibration_feed(cfg, embedder.model_id, data_dir)
    matcher = Matcher(
        matcher_settings(cfg, calibration),
        estimator=None if feed is None else feed.estimator,
        model_default=model_threshold(cfg, calibration),
    )
    return Models(
        detector=detector,
        embedder=embedder,
        gallery=gallery or Gallery(),
        matcher=matcher,
        calibration=calibration,
        calibration_feed=feed,
        gate=CropGate.from_config(cfg.reid),
        max_crops_per_step=cfg.performance.max_crops_per_step,
        min_good_crops=cfg.matcher.min_good_crops,
        person_check=build_person_check(cfg),
        device=placement.label,
    )


def _source(cam: CameraConfig) -> FrameSource:
    """The camera's source; one that cannot be built (a missing file) fails alone when opened."""
    try:
        return open_source(cam)
    except SourceError as exc:  # the runner logs it when the camera fails to open
        return FailedSource(cam.id, str(exc))


def is_stills(cam: CameraConfig, source: FrameSource) -> bool:
    """Whether ``cam`` plays stills (each detection its own sighting): its config, else a guess
    from the image folder's names and file times; never for videos and live cameras."""
    if not isinstance(source, ImageFolderSource) or cam.stills is False:
        return False
    if cam.stills is True:
        return True
    stills, why = looks_like_stills(list_images(source.path_or_glob))
    log.info(
        "camera %s: %s: %s (set cameras[].stills to override)",
        cam.id,
        "stills, each detection is its own sighting" if stills else "frames of a video, tracked",
        why,
    )
    return stills


def build_camera(cfg: AppConfig, cam: CameraConfig) -> CameraUnit:
    """One camera's unit with its own tracker and sighting book (not opened yet).

    A camera whose source cannot be built gets a :class:`FailedSource`: the runner marks it
    failed with the reason, and the other cameras run. An image folder of stills gets a
    :class:`StillsTracker` and a book that closes each sighting after its frame.
    """
    source = _source(cam)
    stills = is_stills(cam, source)
    book = SightingBook(
        cam.id,
        max_embeddings=cfg.reid.max_embeddings_per_sighting,
        embed_interval_frames=cfg.reid.embed_interval_frames,
        max_missing_frames=0 if stills else cfg.tracker.track_buffer,  # stills: closed at the next frame
        switch_similarity=cfg.reid.switch_similarity,
        reembed_height_change=cfg.performance.reembed_height_change,
    )
    tracker = StillsTracker() if stills else build_tracker(cfg.tracker)
    unit = CameraUnit(cam.id, source, tracker, book)
    unit.detector_imgsz = cam.detector_imgsz
    return unit


def build_cameras(cfg: AppConfig) -> list[CameraUnit]:
    """One unit per enabled camera (:func:`build_camera`)."""
    return [build_camera(cfg, cam) for cam in cfg.cameras if cam.enabled]


def build_runner(cfg: AppConfig, models: Models, sink: EventSink | None = None) -> Runner:
    perf = cfg.performance
    return Runner(
        build_cameras(cfg), models, sink, prefetch_frames=perf.capture_queue_frames, pipelined=perf.pipelined
    )
