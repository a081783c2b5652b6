"""Frame sources: USB and network cameras, video files and image folders.

Every kind implements :class:`FrameSource`; :func:`open_source` picks the kind
from a camera's config and :class:`LatestFrameGrabber` keeps live cameras from
falling behind.
"""

from reidcam.capture.base import FrameReader, FrameSource
from reidcam.capture.factory import open_source, parse_source_arg
from reidcam.capture.failed import FailedSource, source_problem, source_problems
from reidcam.capture.grabber import LatestFrameGrabber
from reidcam.capture.image_folder import IMAGE_SUFFIXES, ImageFolderSource, imread_color, list_images
from reidcam.capture.paced import PacedSource
from reidcam.capture.prefetch import PrefetchReader
from reidcam.capture.stream import CaptureLike, Opener, StreamSource, make_opener, next_backoff_s
from reidcam.capture.urls import describe_source, is_stream_url, redact_text, redact_url
from reidcam.capture.video_file import VideoFileSource

__all__ = [
    "IMAGE_SUFFIXES",
    "CaptureLike",
    "FailedSource",
    "FrameReader",
    "FrameSource",
    "ImageFolderSource",
    "LatestFrameGrabber",
    "Opener",
    "PacedSource",
    "PrefetchReader",
    "StreamSource",
    "VideoFileSource",
    "describe_source",
    "imread_color",
    "is_stream_url",
    "list_images",
    "make_opener",
    "next_backoff_s",
    "open_source",
    "parse_source_arg",
    "redact_text",
    "redact_url",
    "source_problem",
    "source_problems",
]
