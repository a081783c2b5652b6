"""``reidcam bench`` end to end on the real models, tiny sizes: the JSON document has every figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reidcam.cli import main
from reidcam.pipeline.step import STAGES


@pytest.fixture(scope="module")
def report(weights_dir: Path, media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    for name in ("vtest.avi", "people-detection.264"):
        if not (media_dir / name).is_file():
            pytest.skip(f"{name} is not in {media_dir}")
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    args = ["bench", "--weights-dir", str(weights_dir), "--media-dir", str(media_dir), "--out", str(out)]
    args += ["--cameras", "2", "--frames", "12", "--naive-frames", "2", "--repeat", "1"]
    args += ["--live-fps", "10", "--live-seconds", "1", "--index-sizes", "3000", "--hnsw-max", "3000"]
    args += ["--embed-runtimes", "openvino"]  # the default ReID model's runtime (its IR)
    assert main(args) == 0
    return json.loads(out.read_text())


def test_pipeline_figures(report: dict) -> None:
    entry = report["pipeline"]["2_cameras"]
    run = entry["ours_runs"][0]
    assert run["fps_per_camera_min"] > 0 and run["frames"] == 24
    assert set(STAGES) <= set(run["stage_ms_per_frame"])
    assert {"p95", "median"} <= set(run["latency_ms"])
    assert set(run["detector_input_shapes"]) == {"cam0", "cam1"}
    assert entry["live"]["fps_per_camera"]["cam0"]["frames_grabbed"] > 0


def test_naive_loop_on_the_same_frames_and_the_ratio(report: dict) -> None:
    entry = report["pipeline"]["2_cameras"]
    naive = entry["naive"]
    assert [c["frames"] for c in naive["cameras"]] == [2, 2]
    assert "yolo11n-pose.pt" in naive["detector"] and naive["fps_per_camera_min"] > 0
    assert len(entry["speedup_ours_over_naive"]) == 1 and entry["speedup_ours_over_naive"][0] > 0


def test_machine_embedding_index_and_targets(report: dict) -> None:
    assert report["machine"]["cpu_model"] and report["threads"]["inference_threads"] >= 1
    assert report["embedding"]["best_crops_per_s"] > 0
    sizes = report["index"]["sizes"]["3000"]
    assert {"exact", "ivf", "hnsw"} <= set(sizes) and sizes["exact"]["recall_at_10"] == 1.0
    assert report["peak_rss_mb"] > 0
    figures = {t["figure"].split(",")[0] for t in report["targets"]}
    assert figures >= {"2 cameras", "speed-up over the naive loop"}
