"""Finite sources (image folder, video file), URL redaction and source dispatch."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.capture import (
    FrameSource,
    ImageFolderSource,
    StreamSource,
    VideoFileSource,
    describe_source,
    is_stream_url,
    open_source,
    parse_source_arg,
    redact_text,
    redact_url,
)
from reidcam.config.schema import CameraConfig
from reidcam.core.errors import ConfigError, SourceError
from reidcam.core.status import SourceState


def _write_image(path: Path, value: int, size: tuple[int, int] = (24, 32)) -> None:
    img = np.full((*size, 3), value, np.uint8)
    assert cv2.imwrite(str(path), img)


def _read_all(source: FrameSource, limit: int = 1000) -> list:
    frames = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def _write_video(path: Path, n_frames: int, size: tuple[int, int] = (64, 48)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for i in range(n_frames):
        img = np.full((size[1], size[0], 3), (i * 20) % 256, np.uint8)
        writer.write(img)
    writer.release()


# --- image folder ---------------------------------------------------------------------------


def test_image_folder_plays_images_in_natural_name_order(tmp_path: Path) -> None:
    for name, value in [("frame_10.jpg", 10), ("frame_2.png", 2), ("frame_1.bmp", 1), ("Frame_3.JPEG", 3)]:
        _write_image(tmp_path / name, value)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _write_image(tmp_path / "sub" / "frame_0.jpg", 0)

    src = ImageFolderSource("cam1", tmp_path)
    assert isinstance(src, FrameSource)
    assert not src.is_live
    src.open()
    frames = _read_all(src)

    assert [f.name for f in frames] == ["frame_1.bmp", "frame_2.png", "Frame_3.JPEG", "frame_10.jpg"]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.camera_id == "cam1" and f.image.dtype == np.uint8 for f in frames)
    assert frames[0].image.shape == (24, 32, 3)
    assert src.read() is None
    status = src.status()
    assert status.state is SourceState.ENDED
    assert status.frames_read == 4


def test_image_folder_glob_selects_only_matching_files(tmp_path: Path) -> None:
    for i in range(3):
        _write_image(tmp_path / f"c1s1_{i:04d}.jpg", 10 * i)
        _write_image(tmp_path / f"c2s1_{i:04d}.jpg", 10 * i)
    src = ImageFolderSource("c1", str(tmp_path / "c1s1_*.jpg"))
    names = [f.name for f in _read_all(src)]  # read() opens implicitly
    assert names == ["c1s1_0000.jpg", "c1s1_0001.jpg", "c1s1_0002.jpg"]


def test_image_folder_skips_unreadable_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_image(tmp_path / "a.jpg", 1)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    (tmp_path / "c.jpg").write_bytes(b"")
    _write_image(tmp_path / "d.jpg", 4)
    src = ImageFolderSource("cam", tmp_path)
    src.open()
    with caplog.at_level(logging.WARNING, logger="reidcam.capture"):
        frames = _read_all(src)
    assert [(f.index, f.name) for f in frames] == [(0, "a.jpg"), (3, "d.jpg")]
    assert src.skipped == 2
    assert "b.jpg" in caplog.text
    assert src.status().last_error is not None


@pytest.mark.parametrize("kind", ["empty_dir", "no_match", "missing"])
def test_image_folder_without_images_fails_at_open(tmp_path: Path, kind: str) -> None:
    (tmp_path / "readme.txt").write_text("x")
    target = {
        "empty_dir": str(tmp_path),
        "no_match": str(tmp_path / "c9_*.jpg"),
        "missing": str(tmp_path / "nope"),
    }[kind]
    src = ImageFolderSource("cam7", target)
    with pytest.raises(SourceError, match="cam7") as err:
        src.open()
    assert target in str(err.value)
    assert src.status().state is SourceState.FAILED


def test_image_folder_close_stops_reading(tmp_path: Path) -> None:
    _write_image(tmp_path / "a.png", 1)
    src = ImageFolderSource("cam", tmp_path)
    src.open()
    src.close()
    assert src.read() is None
    assert src.status().state is SourceState.STOPPED


# --- video file -----------------------------------------------------------------------------


def test_video_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, 12)
    src = VideoFileSource("v", path)
    src.open()
    assert not src.is_live
    assert src.fps == pytest.approx(10.0)
    frames = _read_all(src)

    assert len(frames) == 12
    assert [f.index for f in frames] == list(range(12))
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    assert abs(int(frames[3].image.mean()) - 60) <= 3  # MJPEG is lossy, values stay close
    assert src.read() is None
    status = src.status()
    assert (status.state, status.frames_read) == (SourceState.ENDED, 12)


def test_video_file_loop_restarts_at_end(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, 5)
    src = VideoFileSource("v", path, loop=True)
    frames = _read_all(src, limit=13)
    assert len(frames) == 13
    assert [f.index for f in frames] == list(range(13))
    assert abs(int(frames[5].image.mean()) - int(frames[0].image.mean())) <= 3
    src.close()
    assert src.read() is None


def test_video_file_that_cannot_be_opened_raises(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.avi"
    bogus.write_text("this is not a video")
    with pytest.raises(SourceError, match=r"cam3.*cannot open video file"):
        VideoFileSource("cam3", bogus).open()
    with pytest.raises(SourceError, match="does not exist"):
        VideoFileSource("cam3", tmp_path / "missing.mp4").open()


class _ShortCapture:
    """A VideoCapture stand-in announcing 10 frames but failing after 3, like a truncated file."""

    def __init__(self, _path: str) -> None:
        self.left = 3

    def isOpened(self) -> bool:  # OpenCV's name
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FRAME_COUNT: 10.0, cv2.CAP_PROP_FPS: 25.0}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.zeros((6, 8, 3), np.uint8)

    def release(self) -> None:
        pass


def test_video_file_read_failure_mid_file_ends_with_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "truncated.mp4"
    path.write_bytes(b"x")
    monkeypatch.setattr("reidcam.capture.video_file.cv2.VideoCapture", _ShortCapture)
    src = VideoFileSource("v", path)
    with caplog.at_level(logging.WARNING, logger="reidcam.capture"):
        frames = _read_all(src)
    assert len(frames) == 3
    assert src.status().state is SourceState.ENDED
    assert "truncated or corrupt: decoding stopped after 3 of 10 frames" in caplog.text


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("rtsp://admin:p@ss@cam.local/live", "rtsp://admin:***@cam.local/live"),
        ("rtsp://admin@cam.local/live", "rtsp://admin@cam.local/live"),
        ("rtsp://cam.local/live", "rtsp://cam.local/live"),
        (
            "http://u:pw@h/video.mjpg?user=u&password=pw&x=1",
            "http://u:***@h/video.mjpg?user=u&password=***&x=1",
        ),
        ("https://h/stream?token=abc123", "https://h/stream?token=***"),
        ("/data/videos/a:b@c.mp4", "/data/videos/a:b@c.mp4"),
        ("0", "0"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_and_describe_source() -> None:
    msg = "error opening 'rtsp://u:hunter2@h/x' after rtsp://a:b@c/d"
    out = redact_text(msg)
    assert "hunter2" not in out and ":b@" not in out
    assert "rtsp://u:***@h/x" in out
    assert describe_source(2) == "USB camera 2"
    assert describe_source("rtsp://u:pw@h/x") == "rtsp://u:***@h/x"
    assert is_stream_url("RTSP://h/x") and is_stream_url("https://h") and not is_stream_url("/a/b.mp4")


# --- dispatch -------------------------------------------------------------------------------


def _cam(source: int | str, **kw: object) -> CameraConfig:
    return CameraConfig(id="cam1", source=source, **kw)


def test_open_source_dispatches_by_kind(tmp_path: Path) -> None:
    _write_image(tmp_path / "a.jpg", 1)
    video = tmp_path / "clip.avi"
    _write_video(video, 2)

    usb = open_source(_cam(0))
    assert isinstance(usb, StreamSource) and usb.description == "USB camera 0"
    assert isinstance(open_source(_cam("1")), StreamSource)
    rtsp = open_source(_cam("rtsp://u:pw@h/x", reconnect_backoff_s=0.5, reconnect_backoff_max_s=4.0))
    assert isinstance(rtsp, StreamSource) and rtsp.is_live
    assert (rtsp.reconnect_backoff_s, rtsp.reconnect_backoff_max_s) == (0.5, 4.0)
    assert "pw" not in rtsp.status().description
    assert isinstance(open_source(_cam("http://h:8080/video")), StreamSource)

    assert isinstance(open_source(_cam(str(tmp_path))), ImageFolderSource)
    assert isinstance(open_source(_cam(str(tmp_path / "*.jpg"))), ImageFolderSource)
    assert isinstance(open_source(_cam(str(tmp_path / "a.jpg"))), ImageFolderSource)
    vid = open_source(_cam(str(video), loop=True))
    assert isinstance(vid, VideoFileSource) and vid.loop


def test_open_source_rejects_missing_path_and_unknown_scheme(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.mp4")
    with pytest.raises(SourceError, match=r"camera 'cam1': source .*nope\.mp4 does not exist"):
        open_source(_cam(missing))
    with pytest.raises(SourceError, match="unsupported scheme 'ftp'") as err:
        open_source(_cam("ftp://user:pw@h/x.mp4"))
    assert "pw" not in str(err.value)


def test_parse_source_arg() -> None:
    assert parse_source_arg("cam1=/data/a.mp4") == ("cam1", "/data/a.mp4")
    assert parse_source_arg("door=0") == ("door", "0")
    assert parse_source_arg("c.2=http://h/v?x=1&y=2") == ("c.2", "http://h/v?x=1&y=2")


@pytest.mark.parametrize(
    ("arg", "match"),
    [
        ("/data/a.mp4", "CAM_ID=PATH_OR_URL"),
        ("=a.mp4", "camera id"),
        ("bad id=a.mp4", "camera id"),
        ("cam1=", "nothing after"),
    ],
)
def test_parse_source_arg_errors(arg: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_source_arg(arg)


def test_parse_source_arg_error_hides_password() -> None:
    with pytest.raises(ConfigError) as err:
        parse_source_arg("rtsp://u:hunter2@h/x")
    assert "hunter2" not in str(err.value)
