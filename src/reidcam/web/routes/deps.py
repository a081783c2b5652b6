"""Shared route dependencies: the controller, and the access checks every /api route runs."""

from __future__ import annotations

from fastapi import Request

from reidcam.web.controller import Controller
from reidcam.web.security import check_origin, check_token


def controller(request: Request) -> Controller:
    ctrl: Controller = request.app.state.controller
    return ctrl


def access(request: Request) -> None:
    """Token (when configured) and same-origin checks for every /api request."""
    check_token(request.app.state.services.token, request)
    check_origin(request)
