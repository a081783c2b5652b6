"""reidcam.capture."""
