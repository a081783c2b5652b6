"""Fixtures shared by several test folders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.mjpeg_server import MjpegServer


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    """A real MJPEG HTTP camera on 127.0.0.1 (20 fps) that a test can stop, stall and bring back."""
    srv = MjpegServer(fps=20.0)
    try:
        yield srv.start()
    finally:
        srv.close()
