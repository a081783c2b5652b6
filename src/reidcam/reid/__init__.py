"""reidcam.reid."""
