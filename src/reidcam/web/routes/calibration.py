"""What the similarity threshold means: the calibration of the running ReID model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from reidcam.eval.calibrate import Calibration
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
