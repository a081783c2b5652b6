"""Start/stop detection, overall status, the similarity threshold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from reidcam.broker.errors import BrokerError
from reidcam.web.controller import Controller
from reidcam.web.listcache import cached_list
from reidcam.web.routes.deps import controller
from reidcam.web.schemas import ClusterOut, Error, RunnerOut, StatusOut, ThresholdIn, ThresholdOut

router = APIRouter(tags=["control"])
Ctrl = Annotated[Controller, Depends(controller)]


@router.get(
    "/cluster",
    response_model=ClusterOut,
    responses={404: {"model": Error, "description": "one machine: no broker"}, 503: {"model": Error}},
)
def get_cluster(ctrl: Ctrl) -> ClusterOut:
    """The distributed mode's processes: live workers and memory services with their health."""
    try:
        out = ctrl.cluster()
    except BrokerError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the broker did not answer: {exc}") from exc
    if out is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "one machine: start with --broker for the distributed mode"
        )
    return out


@router.get("/status", response_model=StatusOut)
async def get_status(request: Request, ctrl: Ctrl) -> Response:
    """Everything the header of the page shows, in one request."""
    return cached_list(request, lambda: status_out(ctrl))


def status_out(ctrl: Controller) -> StatusOut:
    runner = ctrl.runner_state()
    live = ctrl.live
    threshold, threshold_version = ctrl.threshold_state()
    return StatusOut(
        running=runner.running,
        stopping=runner.stopping,
        error=runner.error,
        threshold=threshold,
        threshold_version=threshold_version,
        cameras=ctrl.cameras(),
        queries=len(ctrl.queries.records()),
        gallery_cards=len(live.cards),
        matches=len(live.matches),
        crop_write_errors=live.crops.write_errors,
        storage=ctrl.storage_state(),
        device=ctrl.models.device,
    )


@router.post("/start", response_model=RunnerOut)
def start(ctrl: Ctrl) -> RunnerOut:
    """Open every configured camera and start detecting (no-op when running)."""
    return ctrl.start()


@router.post("/stop", response_model=RunnerOut)
def stop(ctrl: Ctrl) -> RunnerOut:
    """Stop detecting and close the cameras; gallery, query and matches stay."""
    return ctrl.stop()


def threshold_out(ctrl: Controller) -> ThresholdOut:
    (t, version), cal = ctrl.threshold_state(), ctrl.models.calibration
    fmr, tpr = cal.rates_at(t) if cal is not None else (None, None)
    band = ctrl.models.matcher.settings.uncertain_band
    return ThresholdOut(
        threshold=t, version=version, default=ctrl.default_threshold, uncertain_band=band, fmr=fmr, tpr=tpr
    )


@router.get("/threshold", response_model=ThresholdOut)
async def get_threshold(ctrl: Ctrl) -> ThresholdOut:
    """The threshold in use, and its false/true-match rates when the model is calibrated."""
    return threshold_out(ctrl)


@router.put("/threshold", response_model=ThresholdOut)
def put_threshold(body: ThresholdIn, ctrl: Ctrl) -> ThresholdOut:
    """Change the similarity threshold; the next processed frames use it."""
    ctrl.set_threshold(body.threshold)
    return threshold_out(ctrl)
