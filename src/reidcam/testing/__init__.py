"""reidcam.testing."""
