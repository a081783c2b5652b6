"""Bench cameras: the sample videos as N cameras, finite (every frame) or paced like live ones."""

from __future__ import annotations

import os
from pathlib import Path

from reidcam.capture import PacedSource, VideoFileSource
from reidcam.capture.base import FrameSource
from reidcam.core.errors import ConfigError
from reidcam.core.status import SourceStatus
from reidcam.core.types import Frame

MEDIA_ENV = "REIDCAM_MEDIA_DIR"
DEFAULT_VIDEOS = ("vtest.avi", "people-detection.264")


def media_dir(explicit: str | None = None) -> Path:
    """The media folder: ``explicit``, else $REIDCAM_MEDIA_DIR.

    Raises:
        ConfigError: neither names an existing folder.
    """
    value = explicit or os.environ.get(MEDIA_ENV)
    if not value or not Path(value).expanduser().is_dir():
        raise ConfigError(
            f"the bench needs sample videos: set {MEDIA_ENV} (or --media-dir) to a folder holding "
            f"{' and '.join(DEFAULT_VIDEOS)}"
        )
    return Path(value).expanduser()


def camera_videos(n: int, folder: Path, videos: tuple[str, ...] = DEFAULT_VIDEOS) -> list[tuple[str, Path]]:
    """``n`` (camera id, video) pairs cycling through ``videos``: cam0=vtest, cam1=people-detection, ...

    Raises:
        ConfigError: a video is missing.
    """
    paths = [folder / v for v in videos]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"bench videos not found: {', '.join(missing)}")
    return [(f"cam{i}", paths[i % len(paths)]) for i in range(n)]


class LimitedSource:
    """The first ``max_frames`` frames of a finite source (the same frames for every contender)."""

    def __init__(self, inner: FrameSource, max_frames: int) -> None:
        self.inner = inner
        self.camera_id = inner.camera_id
        self.max_frames = max_frames
        self._count = 0

    @property
    def is_live(self) -> bool:
        return False

    def open(self) -> None:
        self.inner.open()

    def read(self) -> Frame | None:
        if self._count >= self.max_frames:
            return None
        frame = self.inner.read()
        self._count += frame is not None
        return frame

    def close(self) -> None:
        self.inner.close()

    def status(self) -> SourceStatus:
        return self.inner.status()


def finite_camera(camera_id: str, video: Path, max_frames: int) -> FrameSource:
    """Every one of the first ``max_frames`` frames, looping the file if it is shorter."""
    return LimitedSource(VideoFileSource(camera_id, video, loop=True), max_frames)


def live_camera(camera_id: str, video: Path, fps: float, max_frames: int) -> FrameSource:
    """The video played as a live camera at ``fps`` (looping), ``max_frames`` frames in all."""
    return PacedSource(camera_id, lambda: VideoFileSource(camera_id, video), fps, max_frames=max_frames)
