"""Play file cameras (videos, image folders) like live ones: paced and looping.

A demo camera in the web app should show people walking at a natural rate, over and
over, so a person picked in the gallery is seen again later. ``reidcam serve`` and the
scale-out worker (``reidcam worker``) build their cameras with these.
"""

from __future__ import annotations

from functools import partial

from reidcam.capture import PacedSource, open_source
from reidcam.config import AppConfig, CameraConfig
from reidcam.pipeline.build import build_camera
from reidcam.pipeline.camera import CameraUnit

#: Pace of image-folder cameras when no ``--fps`` is given (stills have no rate of their own).
STILLS_FPS = 5.0


def replay_cameras(cfg: AppConfig, fps: float | None, loop: bool) -> list[CameraUnit]:
    """``build_cameras`` with every file camera wrapped in a :class:`PacedSource`.

    Videos play at their own rate; ``fps`` (when given) is how many frames a second are taken
    from them, skipping the rest below the video's rate, never slow motion (see PacedSource).
    Image folders play at ``fps``, else :data:`STILLS_FPS`. ``fps=0``: every frame as fast as
    it decodes. ``loop`` applies to every file camera; a camera whose config says ``loop: true``
    loops either way. Live cameras are left as they are.
    """
    return [replay_camera(cfg, fps, loop, cam) for cam in cfg.cameras if cam.enabled]


def replay_camera(cfg: AppConfig, fps: float | None, loop: bool, cam: CameraConfig) -> CameraUnit:
    """One camera as :func:`replay_cameras` plays it (a camera added from the page, too)."""
    unit = build_camera(cfg, cam)
    if unit.source.is_live:
        return unit
    once = cam.model_copy(update={"loop": False})  # the replay loops; the inner source plays one pass
    factory, looping = partial(open_source, once), loop or cam.loop
    if fps == 0:  # as fast as frames decode
        unit.source = PacedSource(unit.camera_id, factory, None, looping)
    else:
        unit.source = PacedSource(
            unit.camera_id, factory, fps, looping, real_time=True, stills_fps=STILLS_FPS
        )
    return unit
