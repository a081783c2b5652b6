"""One pipeline step over a batch of frames from several cameras.

Detection runs on all frames in one call (each camera at its own input size), ReID on the
chosen crops of all cameras in one call; tracking and sighting bookkeeping stay per camera
and run on every frame. ReID is the stage whose cost grows with the people in view, so only
crops that add evidence go through it: new tracks, tracks whose view changed, and every
``embed_interval_frames`` of a track, good crops first, at most ``max_crops_per_step``.
A failure in one camera's work is logged with its id and that frame is skipped; the other
cameras' frames go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import BestCrop, Detections, Frame, MatchDecision, Tracks, Verdict
from reidcam.detect.base import Detector, SizedDetector
from reidcam.match.gallery import Gallery
from reidcam.match.matcher import Matcher
from reidcam.pipeline.camera import CameraUnit
from reidcam.reid.backends.base import Embedder
from reidcam.reid.crop_gate import CropGate, crop_quality, extract_crops

if TYPE_CHECKING:
    from reidcam.match.calibration import Calibration
    from reidcam.pipeline.calibration import CalibrationFeed

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "track", "crop", "embed", "match")


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
    timings: dict[str, float] = field(default_factory=dict)
    quality: NDArray[np.float32] | None = None  # crop-gate score per detection


class PersonCheck(Protocol):
    """Says which boxes of a frame hold a person (``detect.person_check.PoseCheck``)."""

    def check(self, image: NDArray[np.uint8], xyxy: NDArray[np.float32]) -> NDArray[np.bool_]: ...


@dataclass(frozen=True)
class Models:
    """The shared models and matching state used by every camera.

    ``max_crops_per_step`` caps the ReID batch of one step (most urgent crops first; the
    rest wait for the next step), so a crowd cannot stall every camera. ``calibration``: what
    the matcher's similarities mean for this embedder (``matcher.calibration``), None if not
    calibrated. ``min_good_crops``: a sighting built from fewer good crops can be "uncertain",
    never a "match" (``matcher.min_good_crops``). ``person_check``: boxes it finds no person
    in are kept out of ReID, matching and the memory (``detector.person_check``).
    ``calibration_feed``: the per-camera self-calibration the runner feeds closed
    sightings to (its estimator is ``matcher.estimator``); None when it is off.
    ``device``: where the models run ('cpu', 'cuda:0 fp16'), for the status API.
    """

    detector: Detector
    embedder: Embedder
    gallery: Gallery
    matcher: Matcher
    gate: CropGate
    max_crops_per_step: int = 32
    calibration: Calibration | None = None
    min_good_crops: int = 1
    person_check: PersonCheck | None = None
    calibration_feed: CalibrationFeed | None = None
    device: str = "cpu"


@dataclass
class StepReport:
    """What one step cost: batch stage times (ms) and the crops it embedded."""

    frames: int = 0
    crops_embedded: int = 0
    crops_deferred: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _call_detector(detector: Detector, batch: Sequence[tuple[CameraUnit, Frame]]) -> list[Detections]:
    images = [f.image for _, f in batch]
    sizes = [u.detector_imgsz for u, _ in batch]
    if any(s is not None for s in sizes) and isinstance(detector, SizedDetector):
        return list(detector.detect_sized(images, sizes))
    return list(detector.detect(images))


def detect_all(detector: Detector, batch: Sequence[tuple[CameraUnit, Frame]]) -> list[Detections | None]:
    """Detect on every frame in one call; on failure retry per frame to isolate the bad one."""
    try:
        return list(_call_detector(detector, batch))
    except Exception:
        if len(batch) == 1:
            unit, frame = batch[0]
            unit.fault(f"detection failed on frame {frame.index}, skipped")
            return [None]
        return [d for item in batch for d in detect_all(detector, [item])]


def _track(unit: CameraUnit, frame: Frame, dets: Detections) -> list[int | None] | None:
    try:
        tracks: Tracks = unit.tracker.update(dets, frame)
    except Exception:
        unit.fault(f"tracking failed on frame {frame.index}, skipped")
        return None
    track_of: list[int | None] = [None] * len(dets)
    for tid, di in zip(tracks.track_id.tolist(), tracks.detection_index.tolist(), strict=True):
        if 0 <= di < len(dets):
            track_of[di] = int(tid)
    return track_of


def _in_frame(unit: CameraUnit, frame: Frame, dets: Detections) -> Detections:
    """Drop boxes with no pixel inside the frame (zero width or height, wholly outside).

    Such a box is a detector fault, not a person: it would give a track with no crop. The
    drop is logged with the camera id and counted as one error of the camera per frame.
    """
    if not len(dets):
        return dets
    b = dets.xyxy
    x1, x2 = np.clip(np.floor(b[:, 0]), 0, frame.width), np.clip(np.ceil(b[:, 2]), 0, frame.width)
    y1, y2 = np.clip(np.floor(b[:, 1]), 0, frame.height), np.clip(np.ceil(b[:, 3]), 0, frame.height)
    keep = (x2 > x1) & (y2 > y1)
    if keep.all():
        return dets
    unit.errors += 1
    log.warning(
        "camera %s: frame %d: dropped %d detection(s) with no pixels inside the %dx%d frame: %s",
        unit.camera_id,
        frame.index,
        int((~keep).sum()),
        frame.width,
        frame.height,
        np.round(b[~keep], 1).tolist(),
    )
    return dets.select(keep)


def _plan(unit: CameraUnit, frame: Frame, dets: Detections, gate: CropGate) -> _Plan | None:
    """Track (every frame), then cut and judge the crops of one frame; None if this camera's
    frame failed (logged with the camera id, counted in ``unit.errors``)."""
    t0 = time.perf_counter()
    dets = _in_frame(unit, frame, dets)
    track_of = _track(unit, frame, dets)
    t_track = _ms(t0)
    if track_of is None:
        return None
    t1 = time.perf_counter()
    try:
        crops = extract_crops(frame.image, dets.xyxy)
        judged = crop_quality(dets.xyxy, frame.width, frame.height, gate)
        unit.book.tick()
        for i, tid in enumerate(track_of):
            if tid is not None:
                unit.book.observe(tid, frame.index, frame.captured_at, dets.xyxy[i], judged.reasons[i] == "")
        tracked = [i for i, tid in enumerate(track_of) if tid is not None]
        unit.book.note_apart([tid for tid in track_of if tid is not None], dets.xyxy[tracked])
    except Exception:
        unit.fault(f"cropping failed on frame {frame.index}, skipped")
        return None
    timings = {"decode": unit.last_decode_ms, "track": t_track, "crop": _ms(t1)}
    return _Plan(unit, frame, dets, track_of, crops, judged.reasons, {}, timings, judged.score)


def _asks(plan: _Plan) -> list[int]:
    """Detections of plan to person-check now: good crops of new or not-yet-person tracks."""
    book, out = plan.unit.book, []
    for i, tid in enumerate(plan.track_of):
        if plan.crops[i] is None or plan.reasons[i] != "":
            continue
        if tid is None or book.wants_person_check(tid, plan.frame.index):
            out.append(i)
    return out


def check_people(plans: list[_Plan], check: PersonCheck) -> int:
    """Person-check what needs it; hide (no crop, reason 'not_person') the boxes found no person.

    A track stays hidden until a check finds a person in it; one that never had a good crop
    is not asked and stays as it is (a poor crop never makes a match). Returns boxes hidden.
    """
    hidden = 0
    for plan in plans:
        asks, book = _asks(plan), plan.unit.book
        answers: NDArray[np.bool_] | list[bool] = (
            check.check(plan.frame.image, plan.detections.xyxy[asks]) if asks else []
        )
        untracked_no = set()
        for i, ok in zip(asks, answers, strict=True):
            tid = plan.track_of[i]
            if tid is None:
                untracked_no.update([] if ok else [i])
            else:
                book.set_person(tid, bool(ok), plan.frame.index)
        for i, tid in enumerate(plan.track_of):
            if i in untracked_no or (tid is not None and book.is_person(tid) is False):
                plan.crops[i], plan.reasons[i] = None, "not_person"
                hidden += 1
    return hidden


def _priority(plan: _Plan, i: int) -> int | None:
    """Urgency of detection i's crop for ReID (lower first), None when it adds nothing now."""
    if plan.crops[i] is None:
        return None
    good = plan.reasons[i] == ""
    tid = plan.track_of[i]
    if tid is None:  # not (yet) tracked: its only chance of an answer in this frame
        return plan.unit.book.NEW if good else plan.unit.book.POOR
    height = float(plan.detections.xyxy[i, 3] - plan.detections.xyxy[i, 1])
    return plan.unit.book.embed_priority(tid, plan.frame.index, height, good)


def select_crops(plans: list[_Plan], budget: int) -> tuple[list[NDArray[np.uint8]], int]:
    """Choose the crops to embed this step (most urgent first, at most ``budget``).

    Fills each plan's ``embed_rows`` (detection -> row of the batch); returns the crops and
    how many wanted embedding but were deferred to a later step.
    """
    wanted: list[tuple[int, int, int]] = []
    for p, plan in enumerate(plans):
        for i in range(len(plan.detections)):
            prio = _priority(plan, i)
            if prio is not None:
                wanted.append((prio, p, i))
    wanted.sort()
    crops: list[NDArray[np.uint8]] = []
    for _, p, i in wanted[:budget]:
        crop = plans[p].crops[i]
        if crop is None:  # never: _priority ranks no box without a crop
            continue
        plans[p].embed_rows[i] = len(crops)
        crops.append(crop)
    return crops, max(0, len(wanted) - budget)


def embed_all(embedder: Embedder, plans: list[_Plan], budget: int = 10**9) -> NDArray[np.float32] | None:
    """Embed the chosen crops of every camera in one batch."""
    crops, _ = select_crops(plans, budget)
    return _embed(embedder, plans, crops)


def _embed(
    embedder: Embedder, plans: list[_Plan], crops: list[NDArray[np.uint8]]
) -> NDArray[np.float32] | None:
    """Embed ``crops`` (rows of the plans' ``embed_rows``) in one call.

    If the batch fails, each camera's crops are retried on their own, so one camera's bad
    crop (or a model fault on it) costs only that camera its embeddings for this step: its
    plans lose their ``embed_rows`` (its frames are still published, without new evidence),
    and the failure is logged with the camera id and counted in ``unit.errors``.
    Returns None only when no crop could be embedded.
    """
    if not crops:
        return np.zeros((0, embedder.dim), np.float32)
    try:
        return _vectors(embedder, crops)
    except Exception as exc:
        cameras = sorted({p.unit.camera_id for p in plans if p.embed_rows})
        if len(cameras) > 1:  # the cameras that still fail alone are logged as errors then
            log.info(
                "ReID embedding failed for %d crops of cameras %s (%r); retrying per camera",
                len(crops),
                ", ".join(cameras),
                exc,
            )
            return _embed_per_camera(embedder, plans, crops)
        _embed_failed(plans, len(crops))
        return None


def _vectors(embedder: Embedder, crops: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
    vectors = embedder.embed(crops).vectors
    if vectors.shape[0] != len(crops):
        raise ValueError(f"the embedder returned {vectors.shape[0]} vectors for {len(crops)} crops")
    return vectors


def _embed_failed(plans: list[_Plan], n_crops: int) -> None:
    """Log (with the camera ids) and count a failed embedding; the plans go without it."""
    for plan in plans:
        if plan.embed_rows:
            plan.unit.fault(
                f"ReID embedding failed on frame {plan.frame.index} ({n_crops} crops in the call); "
                "this frame goes without matching"
            )
            plan.embed_rows.clear()


def _embed_per_camera(
    embedder: Embedder, plans: list[_Plan], crops: list[NDArray[np.uint8]]
) -> NDArray[np.float32] | None:
    """Retry a failed batch one camera at a time; rows of the failing cameras stay unused."""
    out = np.zeros((len(crops), embedder.dim), np.float32)
    done = 0
    for cam in dict.fromkeys(p.unit.camera_id for p in plans if p.embed_rows):
        group = [p for p in plans if p.unit.camera_id == cam and p.embed_rows]
        rows = [r for p in group for r in p.embed_rows.values()]
        try:
            out[rows] = _vectors(embedder, [crops[r] for r in rows])
            done += len(rows)
        except Exception:
            _embed_failed(group, len(rows))
    return out if done else None


def _cap_poor(decision: MatchDecision, reason: str) -> MatchDecision:
    """Evidence from a poor crop alone (tiny, cut, occluded) can make a case, never a match."""
    if decision.verdict is not Verdict.MATCH:
        return decision
    return replace(decision, verdict=Verdict.UNCERTAIN, reason=f"{decision.reason}, but poor crop ({reason})")


def _best_crop(plan: _Plan, i: int) -> BestCrop | None:
    """Detection i as a candidate best view of its sighting (kept by the book if better)."""
    crop = plan.crops[i]
    if crop is None or plan.quality is None:
        return None
    f = plan.frame
    return BestCrop(
        crop, plan.detections.xyxy[i].copy(), float(plan.quality[i]), f.index, f.captured_at, f.name
    )


def _cap_few(decision: MatchDecision, good: int, needed: int) -> MatchDecision:
    """A match on fewer good crops than needed is a case for a human: one view can fool the model."""
    if decision.verdict is not Verdict.MATCH or good >= needed:
        return decision
    reason = f"{decision.reason}, but only {good} of {needed} good crops needed to decide"
    return replace(decision, verdict=Verdict.UNCERTAIN, reason=reason)


def _decide(plan: _Plan, i: int, vectors: NDArray[np.float32] | None, models: Models) -> MatchDecision | None:
    tid, row = plan.track_of[i], plan.embed_rows.get(i)
    book, model_id = plan.unit.book, models.embedder.model_id
    vec = None if vectors is None or row is None else vectors[row]
    good = plan.reasons[i] == ""
    if tid is not None and vec is not None:
        if good:
            height = float(plan.detections.xyxy[i, 3] - plan.detections.xyxy[i, 1])
            book.add_embedding(
                tid, vec, model_id, plan.frame.index, box_height=height, best_crop=_best_crop(plan, i)
            )
        else:
            book.note_poor_embedding(tid, plan.frame.index)
    # A track that jumped keeps no verdict from its old crops until a fresh good one confirms it.
    probe = book.prototype(tid) if tid is not None and not book.needs_check(tid) else None
    if probe is not None and tid is not None:  # a probe implies a track; the test says so to mypy
        decision = models.matcher.decide(probe, model_id, models.gallery, plan.unit.camera_id)
        decision = _cap_few(decision, book.good_crops(tid), models.min_good_crops)
        book.set_decision(tid, decision)
        return decision
    if vec is None:
        return book.provisional(tid) if tid is not None else None
    decision = models.matcher.decide(vec, model_id, models.gallery, plan.unit.camera_id)
    decision = decision if good else _cap_poor(decision, plan.reasons[i])
    if tid is not None:
        book.set_provisional(tid, decision)
    return decision


def _observations(
    plan: _Plan, vectors: NDArray[np.float32] | None, models: Models
) -> tuple[Observation, ...]:
    out = []
    for i in range(len(plan.detections)):
        try:
            decision = _decide(plan, i, vectors, models)
        except Exception:
            plan.unit.fault(f"matching failed for detection {i}")
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


def _guarded_check(plans: list[_Plan], check: PersonCheck) -> None:
    """A failing person check costs this step its answers (logged per camera), never the frames."""
    try:
        check_people(plans, check)
    except Exception:
        for plan in plans:
            plan.unit.fault(f"person check failed on frame {plan.frame.index}; its boxes are not checked")


@dataclass
class Detected:
    """The detection stage's output for one batch: per-frame detections (None = failed) and its ms."""

    detections: list[Detections | None]
    ms: float


def detect_stage(batch: Sequence[tuple[CameraUnit, Frame]], models: Models) -> Detected:
    """Stage 1: detect on every frame of the batch (one call, per-camera input sizes)."""
    t0 = time.perf_counter()
    dets = detect_all(models.detector, batch)
    return Detected(dets, _ms(t0))


def finish_step(
    batch: Sequence[tuple[CameraUnit, Frame]], detected: Detected, models: Models
) -> tuple[list[FrameResult], StepReport]:
    """Stage 2: track every frame, then crop/gate -> embed (one batch for all cameras) -> match.

    Each FrameResult's ``timings_ms`` holds its own decode/track/crop/match times and the
    detect/embed times of the batch it was part of.
    """
    report = StepReport(frames=len(batch))
    plans = [
        plan
        for (unit, frame), dets in zip(batch, detected.detections, strict=True)
        if dets is not None and (plan := _plan(unit, frame, dets, models.gate)) is not None
    ]
    t2 = time.perf_counter()
    if models.person_check is not None:  # its time counts as ReID time: it gates what ReID sees
        _guarded_check(plans, models.person_check)
    crops, report.crops_deferred = select_crops(plans, models.max_crops_per_step)
    vectors = _embed(models.embedder, plans, crops)
    t_embed = _ms(t2)
    report.crops_embedded = sum(len(p.embed_rows) for p in plans) if vectors is not None else 0
    results = []
    for plan in plans:
        t3 = time.perf_counter()
        obs = _observations(plan, vectors, models)
        timings = {**plan.timings, "detect": detected.ms, "embed": t_embed, "match": _ms(t3)}
        results.append(FrameResult(plan.frame, obs, timings))
    report.timings_ms = {
        "detect": detected.ms,
        "embed": t_embed,
        **{s: sum(r.timings_ms[s] for r in results) for s in ("decode", "track", "crop", "match")},
    }
    return results, report


def run_step(
    batch: Sequence[tuple[CameraUnit, Frame]], models: Models
) -> tuple[list[FrameResult], StepReport]:
    """Run detect -> track -> crop/gate -> embed -> match for frames of several cameras."""
    return finish_step(batch, detect_stage(batch, models), models)


def process_batch(batch: Sequence[tuple[CameraUnit, Frame]], models: Models) -> list[FrameResult]:
    """``run_step`` without the report."""
    return run_step(batch, models)[0]
