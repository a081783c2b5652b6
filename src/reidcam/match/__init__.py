"""reidcam.match."""
