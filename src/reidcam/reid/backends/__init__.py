"""reidcam.reid.backends."""
