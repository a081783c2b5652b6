"""Pick the source kind for a camera from its ``source`` value.

One place decides what ``source: ...`` in the config or ``--source cam=...`` on
the command line means, so the CLI, the runner and ``check-config`` agree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reidcam.capture.base import FrameSource
from reidcam.capture.image_folder import IMAGE_SUFFIXES, ImageFolderSource, has_glob_chars
from reidcam.capture.stream import Opener, StreamSource
from reidcam.capture.urls import STREAM_SCHEMES, is_stream_url, redact_text, redact_url, url_scheme
from reidcam.capture.video_file import VideoFileSource
from reidcam.config.schema import CameraConfig
from reidcam.core.errors import ConfigError, SourceError

_CAMERA_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def open_source(cam: CameraConfig, *, opener: Opener | None = None) -> FrameSource:
    """Build the FrameSource for one camera; it is not opened yet.

    Dispatch: an int or digit-only string is a USB index and an rtsp/rtmp/http(s)
    URL a network stream (both :class:`StreamSource`); an existing directory, an
    image file or a path with glob characters is an :class:`ImageFolderSource`;
    any other existing file a :class:`VideoFileSource`. Call ``open()`` on the
    result (in the camera's own thread if it may block); ``read()`` also opens.

    Args:
        cam: the camera's config (backoffs, read timeout, loop).
        opener: capture factory for live sources, for tests; default OpenCV.

    Raises:
        SourceError: the source is not a device, a supported URL or an existing path.
    """
    source = cam.source
    if isinstance(source, int) or source.strip().isdigit():
        return _stream(cam, source, opener)
    text = source.strip()
    if is_stream_url(text):
        return _stream(cam, text, opener)
    path = Path(os.path.expanduser(text))
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return ImageFolderSource(cam.id, path)
    if path.is_file():
        return VideoFileSource(cam.id, path, loop=cam.loop)
    if has_glob_chars(text):
        return ImageFolderSource(cam.id, text)
    raise SourceError(_not_found_message(cam.id, text))


def _stream(cam: CameraConfig, source: int | str, opener: Opener | None) -> StreamSource:
    return StreamSource(
        cam.id,
        source,
        reconnect_backoff_s=cam.reconnect_backoff_s,
        reconnect_backoff_max_s=cam.reconnect_backoff_max_s,
        read_timeout_s=cam.read_timeout_s,
        opener=opener,
    )


def _not_found_message(camera_id: str, text: str) -> str:
    scheme = url_scheme(text)
    if scheme is not None:
        kinds = ", ".join(f"{s}://" for s in STREAM_SCHEMES)
        return (
            f"camera {camera_id!r}: source {redact_url(text)} has the unsupported scheme "
            f"{scheme!r}; use a USB index, a {kinds} URL, a video file or an image folder"
        )
    return (
        f"camera {camera_id!r}: source {redact_text(text)} does not exist; use a USB index (0), "
        "an rtsp:// or http(s):// URL, a video file, an image folder or a glob such as frames/*.jpg"
    )


def parse_source_arg(arg: str) -> tuple[str, str]:
    """Split the CLI's ``--source CAM_ID=PATH_OR_URL`` into ``(camera_id, source)``.

    Only the first ``=`` separates, so URLs with query strings survive intact.
    The source is returned as text; :func:`open_source` decides its kind.

    Raises:
        ConfigError: no ``=``, an invalid camera id or an empty source.
    """
    camera_id, sep, source = arg.partition("=")
    camera_id, source = camera_id.strip(), source.strip()
    shown = redact_text(arg.strip())
    if not sep:
        raise ConfigError(f"--source expects CAM_ID=PATH_OR_URL (e.g. cam1=video.mp4), got {shown!r}")
    if not _CAMERA_ID_RE.match(camera_id):
        raise ConfigError(
            f"--source {shown!r}: camera id {redact_text(camera_id)!r} must be 1-64 characters "
            "of letters, digits, '_', '.' or '-' (expected CAM_ID=PATH_OR_URL)"
        )
    if not source:
        raise ConfigError(f"--source {shown!r}: nothing after '='; give a USB index, URL, video or folder")
    return camera_id, source
