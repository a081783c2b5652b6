"""Error types shared by every stage.

The CLI turns any ``ReidcamError`` into a one-line message and exit code 2,
so messages must say what is wrong and what to do about it.
"""


class ReidcamError(Exception):
    """Base class for errors a user can act on (bad config, missing weights, ...)."""


class ConfigError(ReidcamError):
    """The configuration file or a command-line option is invalid."""


class WeightsError(ReidcamError):
    """Model weights are missing, unknown or fail their checksum."""


class SourceError(ReidcamError):
    """A camera, video file or image folder cannot be opened or read."""


class ImageError(ReidcamError):
    """An image file is unreadable or not an image."""


class DependencyError(ReidcamError):
    """An optional dependency needed by the chosen backend is not installed."""
