"""Damaged recordings: a real video file truncated or overwritten in the middle.

A file camera must read what it can, say clearly that the file is damaged, and end
cleanly like any finite source (never hang, never raise mid-run), so a runner with
other cameras goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.capture import VideoFileSource
from reidcam.core.errors import SourceError
from reidcam.core.status import SourceState
from reidcam.core.types import Frame

N_FRAMES = 40
SIZE = (160, 120)  # width, height


def write_video(path: Path, fourcc: str, n: int = N_FRAMES) -> Path:
    """A short real video: a red box moving right over grey, 20 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 20.0, SIZE)
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc}"
    for i in range(n):
        img = np.full((SIZE[1], SIZE[0], 3), 40, np.uint8)
        cv2.rectangle(img, (10 + 2 * i, 20), (40 + 2 * i, 100), (30, 30, 220), -1)
        writer.write(img)
    writer.release()
    return path


def truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def overwrite_middle(path: Path) -> Path:
    """Random bytes over the second quarter of the file (the header and index stay)."""
    data = bytearray(path.read_bytes())
    start, n = len(data) // 3, len(data) // 4
    data[start : start + n] = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def read_all(src: VideoFileSource, limit: int = 10 * N_FRAMES) -> list[Frame]:
    frames = []
    while len(frames) < limit and (frame := src.read()) is not None:
        frames.append(frame)
    return frames


DAMAGE = {
    "avi-truncated": ("clip.avi", "MJPG", lambda p: truncate(p, 0.5)),
    "avi-corrupt-middle": ("clip.avi", "MJPG", overwrite_middle),
    "mp4-corrupt-middle": ("clip.mp4", "mp4v", overwrite_middle),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_video_reads_what_it_can_and_ends_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    name, fourcc, damage = DAMAGE[case]
    path = damage(write_video(tmp_path / name, fourcc))
    src = VideoFileSource("file", path)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="reidcam.capture"):
        src.open()
        frames = read_all(src)
    assert time.monotonic() - t0 < 5.0  # no hang on the damaged part

    assert 0 < len(frames) < N_FRAMES
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(f.image.shape == (SIZE[1], SIZE[0], 3) and f.image.dtype == np.uint8 for f in frames)
    status = src.status()
    assert status.state is SourceState.ENDED
    assert status.frames_read == len(frames)
    assert status.last_error is not None and "truncated or corrupt" in status.last_error
    assert f"after {len(frames)} of {N_FRAMES} frames" in status.last_error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(path) in errors[0].getMessage()
    assert src.read() is None and src.read() is None  # stays ended
    src.close()
    assert src.status().state is SourceState.STOPPED


def test_mp4_that_lost_its_index_cannot_be_opened_and_says_so(tmp_path: Path) -> None:
    """OpenCV writes the mp4 index (moov) last: cut in half, nothing is decodable."""
    path = truncate(write_video(tmp_path / "clip.mp4", "mp4v"), 0.5)
    src = VideoFileSource("file", path)
    with pytest.raises(SourceError, match="truncated or corrupt"):
        src.open()
    assert src.status().state is SourceState.FAILED
    assert src.status().last_error is not None


def test_looping_damaged_video_keeps_playing_and_reports_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = overwrite_middle(write_video(tmp_path / "clip.avi", "MJPG"))
    src = VideoFileSource("demo", path, loop=True)
    with caplog.at_level(logging.DEBUG, logger="reidcam.capture"):
        frames = read_all(src, limit=3 * N_FRAMES)
    assert len(frames) == 3 * N_FRAMES  # the good part plays again and again
    assert src.status().state is SourceState.LIVE
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1
    src.close()


def test_decoder_raising_mid_file_ends_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Regression: a cv2.error from read() ended the reader thread with an exception."""
    path = write_video(tmp_path / "clip.avi", "MJPG")
    src = VideoFileSource("file", path)
    src.open()
    assert src.read() is not None
    cap = src._cap
    assert cap is not None

    class Raising:
        def read(self) -> tuple[bool, None]:
            raise cv2.error("decoder exploded")

        def __getattr__(self, name: str) -> object:
            return getattr(cap, name)

    src._cap = Raising()  # type: ignore[assignment]
    assert src.read() is None
    assert src.status().state is SourceState.ENDED
    assert "decoding stopped after 1 of" in (src.status().last_error or "")


def test_close_from_another_thread_during_reads_is_safe(tmp_path: Path) -> None:
    """Regression: the grabber's stop closed the capture while its thread was inside OpenCV's
    decoder, which crashed the server at shutdown (seen in the soak). close now waits for the read."""
    path = write_video(tmp_path / "loop.avi", "MJPG")
    for _ in range(15):
        src = VideoFileSource("cam0", path, loop=True)
        src.open()
        got: list[int] = []

        def reader(source: VideoFileSource = src, out: list[int] = got) -> None:
            while (frame := source.read()) is not None:
                out.append(frame.index)

        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.01)
        src.close()
        thread.join(timeout=5)
        assert not thread.is_alive()
        assert src.read() is None
