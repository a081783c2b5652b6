"""Markdown tables from a ``reidcam bench --out bench.json`` document (for docs/performance.md, README).

python benchmarks/table.py bench.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _ms(d: dict) -> str:
    return f"{d['median']:.1f} / {d['p95']:.1f}"


def targets(report: dict) -> list[str]:
    rows = ["| figure | measured | goal |", "|---|---|---|"]
    rows += [f"| {t['figure']} | {t['value']:g} | {t['goal']} |" for t in report.get("targets", [])]
    return rows


def pipeline(report: dict) -> list[str]:
    rows = [
        "| cameras | mode | FPS per camera (min-max) | detect ms/step | embed ms/step | decode ms/frame "
        "| track ms/frame | crop ms/frame | match ms/frame | record ms/step | latency p50 / p95 ms "
        "| ReID crops/s | dropped | cpu_util | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in report.get("pipeline", {}).items():
        if not isinstance(entry, dict):
            continue
        for run in [*entry.get("ours_runs", []), *([entry["live"]] if "live" in entry else [])]:
            step, frame = run["stage_ms_per_step"], run["stage_ms_per_frame"]
            fps = [c["fps"] for c in run["fps_per_camera"].values()]
            dropped = sum(c["frames_dropped"] for c in run["fps_per_camera"].values())
            proc = run["process"]
            rows.append(
                f"| {name.split('_')[0]} | {run['mode'].split(' (')[0]} | {min(fps):.1f}-{max(fps):.1f} "
                f"| {_ms(step['detect'])} | {_ms(step['embed'])} | {_ms(frame['decode'])} "
                f"| {_ms(frame['track'])} | {_ms(frame['crop'])} | {_ms(frame['match'])} "
                f"| {_ms(step['record'])} | {_ms(run['latency_ms'])} | {run['reid_crops_per_s']} "
                f"| {dropped} | {proc['cpu_util']} | {proc['load_avg_before'][0]} |"
            )
        if "naive" in entry:
            n = entry["naive"]
            st = n["stage_ms_per_frame"]
            rows.append(
                f"| {name.split('_')[0]} | naive loop | {n['fps_per_camera_min']:.2f} | {_ms(st['detect'])} "
                f"| {_ms(st['embed'])} | {_ms(st['decode'])} | {_ms(st['track'])} | - | {_ms(st['match'])} "
                f"| - | - | {n['reid_crops_per_s']} | 0 | {n['process']['cpu_util']} "
                f"| {n['process']['load_avg_before'][0]} |"
            )
    return rows


def embedding(report: dict) -> list[str]:
    rows = ["| runtime | threads | crops/s (embed) | crops/s (model only) |", "|---|---|---|---|"]
    for r in report.get("embedding", {}).get("results", []):
        if "error" not in r:
            rows.append(
                f"| {r['runtime']} | {r['threads']} | {r['crops_per_s']} | {r['crops_per_s_model_only']} |"
            )
    return rows


def index(report: dict) -> list[str]:
    rows = [
        "| stored vectors | index | build s | search knob | top-10 median / p95 ms | recall@10 "
        "| same person@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, kinds in report.get("index", {}).get("sizes", {}).items():
        for kind, r in kinds.items():
            knob = next((f"{k}={r[k]}" for k in ("nprobe", "ef_search") if k in r), "-")
            rows.append(
                f"| {int(size):,} | {kind} | {r['build_s']} | {knob} | {_ms(r['top10_ms'])} "
                f"| {r['recall_at_10']} | {r.get('same_person_at_10', '-')} |"
            )
    return rows


def main() -> int:
    report = json.loads(Path(sys.argv[1]).read_text())
    for title, fn in (
        ("Targets", targets),
        ("Pipeline", pipeline),
        ("Embedding", embedding),
        ("Index", index),
    ):
        print(f"### {title}\n")
        print("\n".join(fn(report)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
