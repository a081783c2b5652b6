"""Which threshold applies on a camera, and why: the self-calibrating rule.

The threshold in use is at least the one that keeps the camera's estimated false-match rate
at the target (``reidcam.match.autocal``); the user's threshold can only make it stricter.
A camera with too little evidence yet uses the model's calibrated default. Where the model
cannot separate people (the true-match rate at the target is below a floor), no threshold
makes a match trustworthy: what scores above the user's (or the model's default) threshold
is reported as "uncertain", never "match", with the camera's figures as the reason.
A cross-camera decision (a sighting on camera A against a query view cropped on camera B)
rests on the pair estimate of A and B (both cameras' pairs pooled: the sighting must be told
apart from the people of both) once each camera has enough evidence; until then on A's own.
Self-calibration off: the user's threshold as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from reidcam.match.autocal import CameraEstimate, SeparationEstimator


@dataclass(frozen=True)
class ThresholdChoice:
    """``threshold`` in use, ``why`` (for the decision's explanation), and ``uncertain``: a
    non-empty reason turns every would-be match into an uncertain verdict."""

    threshold: float
    why: str
    uncertain: str = ""


def pct(x: float) -> str:
    """0.1 -> '10 %', 0.01 -> '1 %', 0.001 -> '0.1 %'."""
    return f"{100 * x:.2g} %" if x < 0.1 else f"{100 * x:.0f} %"


def where(est: CameraEstimate) -> str:
    """'camera A', or 'cameras A+B' for a pair estimate."""
    return f"cameras {est.camera_id}" if "+" in est.camera_id else f"camera {est.camera_id}"


def hard_to_separate(est: CameraEstimate) -> str:
    """The warning of a camera where the model cannot tell people apart ('' when it can)."""
    if est.separable or est.tmr_at_target is None:
        return ""
    return (
        f"people are hard to tell apart here: {pct(est.tmr_at_target)} of true matches pass at "
        f"{pct(est.target_fmr)} false matches ({where(est)}, label-free estimate)"
    )


def _evidence(est: CameraEstimate, estimator: SeparationEstimator) -> str:
    s = estimator.settings
    return (
        f"{est.num_negative}/{s.min_negative_pairs} different-people and "
        f"{est.num_positive}/{s.min_positive_pairs} same-person pairs"
    )


def decision_estimate(
    camera_id: str, other_camera: str | None, estimator: SeparationEstimator
) -> tuple[CameraEstimate, str]:
    """The estimate a decision on ``camera_id`` against a view from ``other_camera`` rests on,
    and a note for the explanation: the pair's once it has enough evidence, else the camera's."""
    if other_camera is None or other_camera == camera_id:
        return estimator.estimate(camera_id), ""
    pair = estimator.pair_estimate(camera_id, other_camera)
    if pair.enough and pair.threshold is not None:
        return pair, f" (query view from camera {other_camera})"
    note = f" (query view from camera {other_camera}: too little evidence for the pair yet)"
    return estimator.estimate(camera_id), note


def _floor(
    est: CameraEstimate, note: str, estimator: SeparationEstimator, model_default: float | None
) -> tuple[float | None, str]:
    """(floor threshold or None, why) of an estimate."""
    if not est.enough or est.threshold is None:
        base = (
            f"the model's calibrated default {model_default:.3f}"
            if model_default is not None
            else "no calibrated default for this model"
        )
        return (
            model_default,
            f"{where(est)}{note}: too little evidence yet ({_evidence(est, estimator)}); {base}",
        )
    why = (
        f"{where(est)}{note}: {est.threshold:.3f} keeps the estimated false-match rate at "
        f"{pct(est.target_fmr)} ({_evidence(est, estimator)})"
    )
    return est.threshold, why


def choose_threshold(
    user_threshold: float,
    camera_id: str | None,
    estimator: SeparationEstimator | None,
    model_default: float | None,
    other_camera: str | None = None,
) -> ThresholdChoice:
    """The threshold for a decision on ``camera_id`` (None: not from a camera, e.g. a photo).

    Args:
        user_threshold: the threshold set by the user (config, command line, slider).
        estimator: the per-camera estimates; None = self-calibration off.
        model_default: the model's calibrated threshold (``matcher.calibration`` or the
            weights registry), None if it has none.
        other_camera: the camera of the query view the sighting is judged against (None: a
            photo, or not known); another camera than ``camera_id`` makes it cross-camera.
    """
    if estimator is None:
        return ThresholdChoice(user_threshold, "the configured threshold (self-calibration off)")
    if camera_id is None:
        if model_default is None:
            why = "no camera: no calibrated default for this model"
            return ThresholdChoice(user_threshold, f"{why}; the user's threshold {user_threshold:.3f}")
        why = f"no camera: the model's calibrated default {model_default:.3f}"
        return _user_or_floor(user_threshold, model_default, why, "")
    est, note = decision_estimate(camera_id, other_camera, estimator)
    floor, why = _floor(est, note, estimator, model_default)
    uncertain = hard_to_separate(est) if est.enough else ""
    if uncertain:  # no match here at any threshold: what would have matched is a case for a human
        base = max(user_threshold, model_default or user_threshold)
        return ThresholdChoice(
            base, f"{where(est)}{note}: no match here, only uncertain at >= {base:.3f}", uncertain
        )
    return _user_or_floor(user_threshold, floor, why, uncertain)


def _user_or_floor(user_threshold: float, floor: float | None, why: str, uncertain: str) -> ThresholdChoice:
    """The user's threshold where it is at least the floor, else the floor."""
    if floor is None:
        return ThresholdChoice(user_threshold, f"{why}; the user's threshold {user_threshold:.3f}", uncertain)
    if user_threshold >= floor:
        how = "is stricter" if user_threshold > floor else "is the same"
        return ThresholdChoice(user_threshold, f"{why}; the user's {user_threshold:.3f} {how}", uncertain)
    return ThresholdChoice(floor, f"{why}; the user's {user_threshold:.3f} may only be stricter", uncertain)
