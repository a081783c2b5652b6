"""reidcam.detect."""
