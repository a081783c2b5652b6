"""Videos play at their own speed in the web app: ``--fps`` takes fewer frames, never slow motion."""

import itertools
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.capture import ImageFolderSource, PacedSource, VideoFileSource

VIDEO_FPS = 30.0
N_FRAMES = 30  # one second of film


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("film") / "film.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (64, 48))
    for i in range(N_FRAMES):
        writer.write(np.full((48, 64, 3), i * 8, np.uint8))
    writer.release()
    return path


def _play(source: PacedSource) -> tuple[list[str], float]:
    t0, names = time.monotonic(), []
    while (frame := source.read()) is not None:
        names.append(frame.name)
    source.close()
    return names, time.monotonic() - t0


def _positions(names: list[str]) -> list[int]:
    pos = [int(n.removeprefix("frame")) for n in names]
    assert pos == sorted(set(pos)), pos  # forward only, never a frame twice
    return pos


# A loaded machine may deliver a frame late; the film then skips ahead (real time) instead of
# slowing down, so the counts below are bounds, and the duration is the film's.


def test_a_lower_fps_skips_frames_and_keeps_the_film_s_speed(film):
    source = PacedSource("cam", partial(VideoFileSource, "cam", film), 5.0, loop=False, real_time=True)
    names, elapsed = _play(source)
    pos = _positions(names)
    # About every 6th frame, and the film still lasts about its second (slow motion: 6 s).
    assert pos[0] == 0 and 4 <= len(pos) <= 6 and min(b - a for a, b in itertools.pairwise(pos)) >= 5
    assert 0.7 <= elapsed < 2.0
    assert "5 fps of the video's 30, real time" in source.status().description


def test_without_fps_a_video_plays_every_frame_at_its_own_rate(film):
    source = PacedSource("cam", partial(VideoFileSource, "cam", film), None, loop=False, real_time=True)
    names, elapsed = _play(source)
    pos = _positions(names)
    assert pos[0] == 0 and pos[-1] >= N_FRAMES - 3 and len(pos) >= N_FRAMES // 2
    assert 0.8 <= elapsed < 2.5


def test_a_higher_fps_than_the_film_s_takes_every_frame_at_that_rate(film):
    # Benchmarks feed a live camera's rate from a slower file: every frame, faster than the film.
    source = PacedSource("cam", partial(VideoFileSource, "cam", film), 60.0, loop=False, real_time=True)
    names, elapsed = _play(source)
    assert names == [f"frame{i:06d}" for i in range(N_FRAMES)]
    assert 0.4 <= elapsed < 0.9  # 30 frames at 60/s, not the film's second
    assert "60 fps of the video's 30, faster than real time" in source.status().description


def test_an_image_folder_plays_at_the_stills_pace_without_fps(tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.zeros((8, 8, 3), np.uint8))
    source = PacedSource(
        "cam", partial(ImageFolderSource, "cam", tmp_path), None, loop=False, real_time=True, stills_fps=20.0
    )
    names, elapsed = _play(source)
    assert names == [f"{i:03d}.png" for i in range(4)]
    assert 0.12 <= elapsed < 1.0  # three periods of 1/20 s, not as fast as they decode


def test_skip_counts_the_frames_it_passes_over(film):
    source = VideoFileSource("cam", film)
    assert source.skip(10) == 10
    assert source.read().index == 10
    assert source.skip(100) == N_FRAMES - 11
    assert source.read() is None
