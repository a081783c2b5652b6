"""What the similarity threshold means: the calibration of the running ReID model, and each
camera's label-free calibration (the self-calibrating matcher)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from reidcam.match.calibration import Calibration
from reidcam.match.threshold_rule import hard_to_separate
from reidcam.web.controller import Controller
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import CalibrationOut, HistogramOut, RatesOut

router = APIRouter(tags=["control"])
Ctrl = Annotated[Controller, Depends(controller)]


def rates_out(cal: Calibration, threshold: float) -> RatesOut:
    fmr, tpr = cal.rates_at(threshold)
    return RatesOut(threshold=threshold, fmr=fmr, tpr=tpr)


def calibration_out(cal: Calibration | None, threshold: float) -> CalibrationOut:
    if cal is None:
        return CalibrationOut(calibrated=False)
    return CalibrationOut(
        calibrated=True,
        model_id=cal.model_id,
        threshold=cal.threshold,
        target_fmr=cal.target_fmr,
        fmr=cal.fmr,
        tpr=cal.tpr,
        uncertain_below=cal.uncertain_below,
        holdout=cal.holdout,
        num_same=cal.num_same,
        num_different=cal.num_different,
        num_images=cal.num_images,
        num_identities=cal.num_identities,
        data=cal.data,
        created_at=cal.created_at or None,
        current=rates_out(cal, threshold),
        curve=[RatesOut(threshold=t, fmr=f, tpr=p) for t, f, p in cal.curve],
        histogram=HistogramOut.model_validate(cal.histogram) if cal.histogram else None,
    )


@router.get("/calibration", response_model=CalibrationOut)
async def get_calibration(ctrl: Ctrl) -> CalibrationOut:
    """The calibration shown next to the threshold slider: the rates at any threshold, both
    similarity distributions, and the calibrated point (``calibrated: false`` when none)."""
    return calibration_out(ctrl.models.calibration, ctrl.threshold)


class CameraCalibrationOut(BaseModel):
    """One camera's label-free calibration (``reidcam.match.autocal``) and the threshold it sets."""

    camera_id: str
    self_calibrating: bool = Field(description="false: matcher.self_calibrate is off")
    enough: bool = Field(description="enough pairs for the estimate to steer the threshold")
    num_negative: int = Field(description="different-people pairs (sightings seen apart at one time)")
    num_positive: int = Field(description="same-person pairs (halves of long tracks)")
    min_negative_pairs: int = 0
    min_positive_pairs: int = 0
    target_fmr: float | None = None
    threshold: float | None = Field(default=None, description="the camera's threshold for target_fmr")
    tmr_at_target: float | None = Field(default=None, description="estimated true-match rate there")
    separable: bool = True
    warning: str | None = Field(default=None, description="set when people are hard to tell apart here")
    threshold_in_use: float = Field(description="what decisions on this camera use now")
    why: str = Field(description="why that threshold applies")
    current: dict[str, float | None] = Field(
        description="estimated fmr and tpr at the slider's threshold (None: no pairs of that kind)"
    )
    curve: list[RatesOut] = Field(default_factory=list, description="estimated rates on a 0.01 grid")


def camera_calibration_out(ctrl: Controller, camera_id: str) -> CameraCalibrationOut:
    matcher = ctrl.models.matcher
    choice = matcher.threshold_for(camera_id)
    est = matcher.estimator
    if est is None:
        return CameraCalibrationOut(
            camera_id=camera_id,
            self_calibrating=False,
            enough=False,
            num_negative=0,
            num_positive=0,
            threshold_in_use=choice.threshold,
            why=choice.why,
            current={"threshold": ctrl.threshold, "fmr": None, "tpr": None},
        )
    e = est.estimate(camera_id)
    fmr, tpr = e.rates_at(ctrl.threshold)
    cal = e.calibration
    return CameraCalibrationOut(
        camera_id=camera_id,
        self_calibrating=True,
        enough=e.enough,
        num_negative=e.num_negative,
        num_positive=e.num_positive,
        min_negative_pairs=est.settings.min_negative_pairs,
        min_positive_pairs=est.settings.min_positive_pairs,
        target_fmr=e.target_fmr,
        threshold=e.threshold,
        tmr_at_target=e.tmr_at_target,
        separable=e.separable,
        warning=hard_to_separate(e) or None,
        threshold_in_use=choice.threshold,
        why=choice.why,
        current={"threshold": ctrl.threshold, "fmr": fmr, "tpr": tpr},
        curve=[] if cal is None else [RatesOut(threshold=t, fmr=f, tpr=p) for t, f, p in cal.curve],
    )


@router.get("/calibration/cameras", response_model=list[CameraCalibrationOut])
async def get_camera_calibrations(ctrl: Ctrl) -> list[CameraCalibrationOut]:
    """Per camera: how well the model tells its people apart (label-free estimate), the threshold
    that applies there and why, a warning where people are hard to tell apart, and the
    estimated rates at the slider's threshold."""
    est = ctrl.models.matcher.estimator
    ids = dict.fromkeys([c.id for c in ctrl.config.cameras] + ([] if est is None else est.camera_ids()))
    return [camera_calibration_out(ctrl, cid) for cid in ids]
