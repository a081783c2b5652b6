"""reidcam.pipeline."""
