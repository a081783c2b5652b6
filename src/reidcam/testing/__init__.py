"""Fakes and synthetic scenes for tests (no weights needed)."""

from reidcam.testing.fakes import FakeDetector, FakeEmbedder, FakeSource
from reidcam.testing.scene import Walker, crop_of, render, two_camera_scene

__all__ = ["FakeDetector", "FakeEmbedder", "FakeSource", "Walker", "crop_of", "render", "two_camera_scene"]
