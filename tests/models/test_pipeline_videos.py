"""Two real videos as two cameras, run to the end with the real models."""

import json
from collections import defaultdict

import numpy as np
import pytest

from reidcam.cli import main


@pytest.fixture(scope="module")
def video_run(weights_dir, media_dir, tmp_path_factory):
    vtest, ceiling = media_dir / "vtest.avi", media_dir / "people-detection.264"
    query = media_dir / "market1501_2cam" / "query" / "0001_c1s1_001051_00.jpg"
    for p in (vtest, ceiling, query):
        if not p.exists():
            pytest.skip(f"{p.name} is not in {media_dir}")
    out = tmp_path_factory.mktemp("videos")
    code = main(
        [
            "search",
            "--no-progress",
            "--weights-dir",
            str(weights_dir),
            "--query",
            str(query),
            "--source",
            f"cam0={vtest}",
            "--source",
            f"cam1={ceiling}",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out, [json.loads(x) for x in (out / "matches.jsonl").read_text().splitlines()]


def test_runs_to_the_end_of_both_videos(video_run):
    _, records = video_run
    last = defaultdict(int)
    for r in records:
        last[r["camera_id"]] = max(last[r["camera_id"]], r["frame"]["index"])
    # vtest.avi has 795 frames, people-detection.264 596; people are in view near the end of both
    assert last["cam0"] >= 780 and last["cam1"] >= 500


def test_walking_person_keeps_one_track_id(video_run):
    _, records = video_run
    for cam in ("cam0", "cam1"):
        tracks = defaultdict(list)
        for r in records:
            if r["camera_id"] == cam and r["track_id"] is not None:
                tracks[r["track_id"]].append((r["frame"]["index"], r["xyxy"]))
        longest = max(tracks.values(), key=len)
        frames = [f for f, _ in longest]
        assert len(longest) >= 60, f"{cam}: longest track only {len(longest)} frames"
        assert (frames[-1] - frames[0] + 1) <= 1.2 * len(frames), f"{cam}: track has large gaps"
        centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for _, b in longest])
        heights = np.array([b[3] - b[1] for _, b in longest])
        steps = np.linalg.norm(np.diff(centres, axis=0), axis=1) / np.diff(frames)
        assert np.median(steps) < 0.2 * np.median(heights), f"{cam}: the box jumps, not a walking person"
        travelled = np.linalg.norm(centres - centres[0], axis=1).max()
        assert travelled > 0.5 * np.median(heights), f"{cam}: nobody walked"


def test_output_folders_fill(video_run):
    out, records = video_run
    assert len(records) > 500
    # Boxes the person check found no person in get no crop file (docs/accuracy.md, 7.5).
    people = [r for r in records if r["quality_reason"] != "not_person"]
    assert len(people) >= 0.99 * len(records)
    assert len(list((out / "query_images").glob("*.jpg"))) == len(people)
    assert any((out / "detections").iterdir())
    assert (out / "query" / "query.jpg").is_file()
