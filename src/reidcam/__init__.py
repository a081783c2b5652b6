"""reidcam: real-time person re-identification and multi-camera tracking."""

__version__ = "0.1.0"
