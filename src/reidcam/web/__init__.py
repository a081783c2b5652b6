"""The live web app: ``create_app(config, services)``; see ``reidcam serve``."""

from reidcam.web.app import begin_shutdown, create_app
from reidcam.web.services import Services, build_services

__all__ = ["Services", "begin_shutdown", "build_services", "create_app"]
