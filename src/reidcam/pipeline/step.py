"""One pipeline step over a batch of frames from several cameras.

Detection runs on all frames in one call, ReID on all crops of all cameras in
one call; tracking and sighting bookkeeping stay per camera. A failure in one
camera's work is logged with its id and that frame is skipped; the other
cameras' frames go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Detections, Frame, MatchDecision, Tracks, Verdict
from reidcam.detect.base import Detector
from reidcam.match.gallery import Gallery
from reidcam.match.matcher import Matcher
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.events import FrameResult, Observation
from reidcam.reid.backends.base import Embedder
from reidcam.reid.crops import CropGate, extract_crops, gate_crops

log = logging.getLogger(__name__)


@dataclass
class _Plan:
    """Per-frame work list: what each detection is and whether to embed it."""

    unit: CameraUnit
    frame: Frame
    detections: Detections
    track_of: list[int | None]
    crops: list[NDArray[np.uint8] | None]
    reasons: list[str]
    embed_rows: dict[int, int]


@dataclass(frozen=True)
class Models:
    """The shared models and matching state used by every camera."""

    detector: Detector
    embedder: Embedder
    gallery: Gallery
    matcher: Matcher
    gate: CropGate


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def detect_all(detector: Detector, batch: Sequence[tuple[CameraUnit, Frame]]) -> list[Detections | None]:
    """Detect on every frame in one call; on failure retry per frame to isolate the bad one."""
    try:
        return list(detector.detect([f.image for _, f in batch]))
    except Exception:
        if len(batch) == 1:
            unit, frame = batch[0]
            unit.errors += 1
            log.exception("camera %s: detection failed on frame %d, skipped", unit.camera_id, frame.index)
            return [None]
        return [d for item in batch for d in detect_all(detector, [item])]


def _track(unit: CameraUnit, frame: Frame, dets: Detections) -> list[int | None] | None:
    try:
        tracks: Tracks = unit.tracker.update(dets, frame)
    except Exception:
        unit.errors += 1
        log.exception("camera %s: tracking failed on frame %d, skipped", unit.camera_id, frame.index)
        return None
    track_of: list[int | None] = [None] * len(dets)
    for tid, di in zip(tracks.track_id.tolist(), tracks.detection_index.tolist(), strict=True):
        if 0 <= di < len(dets):
            track_of[di] = int(tid)
    return track_of


def _plan(
    unit: CameraUnit, frame: Frame, dets: Detections, track_of: list[int | None], gate: CropGate
) -> _Plan:
    crops = extract_crops(frame.image, dets.xyxy)
    reasons = gate_crops(dets.xyxy, frame.width, frame.height, gate)
    plan = _Plan(unit, frame, dets, track_of, crops, reasons, {})
    for tid in track_of:
        if tid is not None:
            unit.book.observe(tid, frame.index, frame.captured_at)
    return plan


def _needs_embedding(plan: _Plan, i: int) -> bool:
    if plan.crops[i] is None:
        return False
    tid = plan.track_of[i]
    book = plan.unit.book
    if plan.reasons[i] == "":
        return tid is None or book.wants_embedding(tid, plan.frame.index)
    # A poor crop never feeds the sighting, but gives a provisional answer when nothing better exists.
    return tid is None or not book.has_prototype(tid)


def embed_all(embedder: Embedder, plans: list[_Plan]) -> NDArray[np.float32] | None:
    """Embed every crop that needs it, across cameras, in one batch."""
    crops: list[NDArray[np.uint8]] = []
    for plan in plans:
        for i in range(len(plan.detections)):
            if _needs_embedding(plan, i):
                plan.embed_rows[i] = len(crops)
                crops.append(plan.crops[i])  # type: ignore[arg-type]
    if not crops:
        return np.zeros((0, embedder.dim), np.float32)
    try:
        return embedder.embed(crops).vectors
    except Exception:
        log.exception("ReID embedding failed for %d crops; this step goes without matching", len(crops))
        for plan in plans:
            plan.embed_rows.clear()
        return None


def _cap_poor(decision: MatchDecision, reason: str) -> MatchDecision:
    """Evidence from a poor crop alone (tiny, cut, occluded) can make a case, never a match."""
    if decision.verdict is not Verdict.MATCH:
        return decision
    return replace(decision, verdict=Verdict.UNCERTAIN, reason=f"{decision.reason}, but poor crop ({reason})")


def _decide(plan: _Plan, i: int, vectors: NDArray[np.float32] | None, models: Models) -> MatchDecision | None:
    tid, row = plan.track_of[i], plan.embed_rows.get(i)
    book, model_id = plan.unit.book, models.embedder.model_id
    vec = None if vectors is None or row is None else vectors[row]
    good = plan.reasons[i] == ""
    if tid is not None and vec is not None and good:
        book.add_embedding(tid, vec, model_id, plan.frame.index)
    probe = book.prototype(tid) if tid is not None else None
    if probe is not None:
        decision = models.matcher.decide(probe, model_id, models.gallery)
        book.set_decision(tid, decision)  # type: ignore[arg-type]
        return decision
    if vec is None:
        return None
    decision = models.matcher.decide(vec, model_id, models.gallery)
    return decision if good else _cap_poor(decision, plan.reasons[i])


def _observations(
    plan: _Plan, vectors: NDArray[np.float32] | None, models: Models
) -> tuple[Observation, ...]:
    out = []
    for i in range(len(plan.detections)):
        try:
            decision = _decide(plan, i, vectors, models)
        except Exception:
            plan.unit.errors += 1
            log.exception("camera %s: matching failed for detection %d", plan.unit.camera_id, i)
            decision = None
        out.append(
            Observation(
                detection_index=i,
                xyxy=plan.detections.xyxy[i].copy(),
                confidence=float(plan.detections.confidence[i]),
                track_id=plan.track_of[i],
                crop=plan.crops[i],
                quality_ok=plan.reasons[i] == "",
                quality_reason=plan.reasons[i],
                decision=decision,
            )
        )
    return tuple(out)


def process_batch(batch: Sequence[tuple[CameraUnit, Frame]], models: Models) -> list[FrameResult]:
    """Run detect -> track -> crop/gate -> embed -> match for frames of several cameras."""
    t0 = time.perf_counter()
    all_dets = detect_all(models.detector, batch)
    t_detect = _ms(t0)
    t1 = time.perf_counter()
    plans: list[_Plan] = []
    for (unit, frame), dets in zip(batch, all_dets, strict=True):
        if dets is None:
            continue
        track_of = _track(unit, frame, dets)
        if track_of is not None:
            plans.append(_plan(unit, frame, dets, track_of, models.gate))
    t_track = _ms(t1)
    t2 = time.perf_counter()
    vectors = embed_all(models.embedder, plans)
    t_embed = _ms(t2)
    results = []
    for plan in plans:
        t3 = time.perf_counter()
        obs = _observations(plan, vectors, models)
        timings = {"detect": t_detect, "track_crop": t_track, "embed": t_embed, "match": _ms(t3)}
        results.append(FrameResult(plan.frame, obs, timings))
    return results
