"""reidcam.storage."""
