"""File cameras played like live ones: moved to ``reidcam.pipeline.replay`` (the perception
worker of the scale-out mode builds its cameras the same way); kept here for the app's imports."""

from reidcam.pipeline.replay import STILLS_FPS, replay_camera, replay_cameras

__all__ = ["STILLS_FPS", "replay_camera", "replay_cameras"]
