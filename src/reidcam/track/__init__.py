"""reidcam.track."""
