"""reidcam.web."""
