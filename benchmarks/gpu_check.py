"""The GPU checks of issue 14 in one run: contracts on the device, the Market search, the bench.

Usage (weights and media from the environment; on a machine without CUDA ``--device cuda``
exits with code 2 and the message of ``reidcam doctor``):

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/gpu_check.py --device cuda --out OUT

Writes OUT/gpu_check.json (after each section) and prints a summary; the document holds:

- ``environment``: what ``reidcam doctor`` prints, and the placement chosen;
- ``reid_contract``: cosine of the device's embeddings (fp32 and fp16) against the CPU's ONNX
  Runtime ones on real crops (the Market queries and the labelled frames' people); goal >= 0.999;
- ``detector_contract``: the device's YOLOX boxes (fp32, fp16, all frames in one batch) against
  the CPU's on real frames: every CPU box has a device box at IoU >= 0.9, and the counts agree;
- ``search``: the Market two-camera person search on the CPU and on the device: same matches;
- ``bench``: ``reidcam bench --device`` at 2-32 cameras, ReID crops/s at large batches, GPU memory.

Each section that fails records its error and the others still run. It reports; it never fails
on a figure (the goals are in docs/performance.md). Which runtime ran on the GPU is recorded:
torch (ONNX models converted) when ONNX Runtime is the CPU wheel, ONNX Runtime's CUDA provider
with onnxruntime-gpu installed; run it in both installs to compare them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reidcam.config import AppConfig, DetectorConfig, ReidConfig
from reidcam.core.geometry import iou_matrix
from reidcam.detect import build_detector
from reidcam.devices import CPU, Placement
from reidcam.devices.probe import doctor_lines, placement_for, runtime_report
from reidcam.perf.sources import media_dir
from reidcam.reid.backends import build_embedder
from reidcam.reid.backends.preprocess import preprocess
from reidcam.reid.enroll import read_image
from reidcam.reid.weights import resolve_weights

log = logging.getLogger("gpu_check")

REID_MODEL = "osnet_x0_25_msmt17"
MARKET = "market1501_2cam"
MIN_COSINE = 0.999
MIN_IOU = 0.9
SPEED_BATCH = 1024
SPEED_BATCH_FRAMES = 32


def _frames(media: Path, limit: int) -> list[np.ndarray]:
    """Real frames: the Market campus frames, the MOT17-mini frames, bus.jpg (BGR uint8)."""
    paths = sorted((media / MARKET / "frames").glob("*.jpg"))
    paths += sorted((media / "MOT17-mini").glob("*/img1/*.jpg"))
    paths += [media / "bus.jpg", media / "zidane.jpg"]
    return [read_image(p) for p in paths if p.is_file()][:limit]


def _crops(frames: list[np.ndarray], media: Path) -> list[np.ndarray]:
    """Person crops: the Market queries plus every person the CPU detector finds in ``frames``."""
    det = build_detector(DetectorConfig(weights="yolox_nano"), resolve_weights("yolox_nano"), 1, 1, CPU)
    crops = [read_image(p) for p in sorted((media / MARKET / "query").glob("*.jpg"))]
    for frame, dets in zip(frames, det.detect(frames), strict=True):
        for x1, y1, x2, y2 in dets.xyxy.astype(int):
            crop = frame[max(0, y1) : y2, max(0, x1) : x2]
            if crop.shape[0] >= 32 and crop.shape[1] >= 16:
                crops.append(np.ascontiguousarray(crop))
    return crops


def _per_s(fn: Callable[[], Any], items: int, repeats: int = 5) -> float:
    """Items per second of ``fn`` (one warm call first; the median of ``repeats`` timed calls)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(items / float(np.median(times)), 1)


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1)  # both L2-normalised
    return {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6), "n": len(cos)}


def reid_contract(media: Path, device: Placement, frames: list[np.ndarray], backend: str) -> dict[str, Any]:
    """Device embeddings (fp32, fp16) against the CPU's ONNX Runtime ones on the same crops."""
    weights = resolve_weights(REID_MODEL)
    crops = _crops(frames, media)
    ref = build_embedder(ReidConfig(model=REID_MODEL, batch_size=256), weights, CPU).embed(crops).vectors
    cfg = ReidConfig(model=REID_MODEL, batch_size=256, backend=backend)
    out: dict[str, Any] = {
        "crops": len(crops),
        "reference": "CPU onnxruntime fp32",
        "goal_min_cosine": MIN_COSINE,
    }
    vectors = {}
    for fp16 in (False, True):
        place = Placement(device.choice, device.ort_available, fp16)
        emb = build_embedder(cfg, weights, place)
        vectors[fp16] = emb.embed(crops).vectors
        x = preprocess([crops[i % len(crops)] for i in range(SPEED_BATCH)], emb.preset)
        speed = _per_s(lambda e=emb, x=x: e._run(x), SPEED_BATCH)
        out["fp16" if fp16 else "fp32"] = {
            "device": place.label,
            "runtime": type(emb).__name__,
            **_cosines(ref, vectors[fp16]),
            f"crops_per_s_model_only_batch_{SPEED_BATCH}": speed,
        }
    out["fp16_vs_fp32_on_device"] = _cosines(vectors[False], vectors[True])
    return out


def _match_boxes(ref: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    if len(ref) == 0 or len(got) == 0:
        return {"ref": len(ref), "got": len(got), "min_best_iou": 1.0 if len(ref) == len(got) else 0.0}
    best = iou_matrix(ref, got).max(axis=1)
    return {"ref": len(ref), "got": len(got), "min_best_iou": float(best.min())}


def detector_contract(device: Placement, frames: list[np.ndarray], backend: str) -> dict[str, Any]:
    """YOLOX boxes on the device (fp32, fp16; one batched call) against the CPU's, frame by frame."""
    weights = resolve_weights("yolox_nano")
    ref = build_detector(DetectorConfig(weights="yolox_nano", imgsz=640), weights, None, 1, CPU).detect(
        frames
    )
    cfg = DetectorConfig(weights="yolox_nano", imgsz=640, backend=backend)
    out: dict[str, Any] = {"frames": len(frames), "reference": "CPU onnxruntime fp32", "goal_iou": MIN_IOU}
    for fp16 in (False, True):
        place = Placement(device.choice, device.ort_available, fp16)
        det = build_detector(cfg, weights, None, 1, place)
        got = det.detect(frames)  # frames of one shape go in one batched call on the device
        same = [f for f in frames if f.shape == frames[0].shape][:SPEED_BATCH_FRAMES]
        rows = [_match_boxes(r.xyxy, g.xyxy) for r, g in zip(ref, got, strict=True)]
        ious = [r["min_best_iou"] for r in rows]
        out["fp16" if fp16 else "fp32"] = {
            "device": place.label,
            "runtime": getattr(det, "runtime", type(det).__name__),
            "boxes_ref": sum(r["ref"] for r in rows),
            "boxes_device": sum(r["got"] for r in rows),
            "frames_with_other_count": sum(r["ref"] != r["got"] for r in rows),
            "min_best_iou": round(min(ious), 4),
            "frames_below_goal": sum(i < MIN_IOU for i in ious),
            f"frames_per_s_batch_{len(same)}_at_640": _per_s(lambda d=det, f=same: d.detect(f), len(same)),
        }
    return out


def _search_cfg(media: Path, device: str) -> AppConfig:
    frames = media / MARKET / "frames"
    cams = sorted({p.name.split("s", 1)[0] for p in frames.glob("c*s*_*.jpg")})
    return AppConfig.model_validate(
        {
            "cameras": [{"id": c, "source": str(frames / f"{c}s*_*.jpg")} for c in cams],
            "reid": {"model": REID_MODEL},
            "performance": {"device": device},
        }
    )


def search(media: Path, device: str) -> dict[str, Any]:
    """The Market two-camera search on the CPU and on ``device``: scores and the matched boxes."""
    from reidcam.eval.build_set import default_frame_labels
    from reidcam.eval.search_eval import run_search, score_search
    from reidcam.pipeline.build import build_embedder_from_config

    queries = [read_image(p) for p in sorted((media / MARKET / "query").glob("*.jpg"))]
    out: dict[str, Any] = {}
    matched: dict[str, list] = {}
    for dev in ("cpu", device):
        cfg = _search_cfg(media, dev)
        embedder = build_embedder_from_config(cfg)
        records, threshold = run_search(cfg, embedder, queries)
        scores = score_search(records, default_frame_labels(), embedder.model_id, threshold)
        matched[dev] = sorted((r.camera_id, r.frame_name) for r in records if r.verdict == "match")
        out[dev] = {**scores.as_dict(), "matched_frames": matched[dev]}
    out["same_matches"] = matched["cpu"] == matched[device]
    return out


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from reidcam.perf.bench import BenchOptions, run_bench

    opts = BenchOptions(
        cameras=[int(x) for x in args.cameras.split(",")],
        frames=args.frames,
        repeat=1,
        live_fps=25.0,
        live_seconds=args.live_seconds,
        index_sizes=[],
        skip_naive=True,
        reid_backend="auto",
        embed_runtimes=["auto"],
        device=args.device,
        precision=args.precision,
        embed_batches=[int(x) for x in args.embed_batches.split(",")],
    )
    return run_bench(opts)


def _section(report: dict[str, Any], name: str, fn: Callable[[], Any], out: Path) -> None:
    """Run one section; the JSON is rewritten after each, so a run cut short keeps what it measured."""
    t0 = time.monotonic()
    try:
        report[name] = fn()
    except Exception as exc:  # one broken section must not lose the others' figures
        report[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(f"[gpu_check] {name} done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def summary(report: dict[str, Any]) -> list[str]:
    """One line per headline figure (the whole document is in gpu_check.json)."""
    lines = [f"device {report.get('device')}"]
    for name in ("reid_contract", "detector_contract"):
        sec = report.get(name, {})
        lines.append(f"{name}: {sec.get('error') or {k: v for k, v in sec.items() if k in ('fp32', 'fp16')}}")
    if "fp16_vs_fp32_on_device" in report.get("reid_contract", {}):
        lines.append(f"reid fp16 vs fp32: {report['reid_contract']['fp16_vs_fp32_on_device']}")
    sec = report.get("search", {})
    lines.append(f"search same matches: {sec.get('same_matches', sec.get('error'))}")
    bench_doc = report.get("bench", {})
    lines.append(f"bench error: {bench_doc['error']}" if "error" in bench_doc else "bench:")
    lines += [
        f"  {row['figure']}: {row['value']} (goal {row['goal']})" for row in bench_doc.get("targets", [])
    ]
    for key, entry in bench_doc.get("pipeline", {}).items():
        if key.endswith("_cameras"):
            lines.append(
                f"  {key}: fps/cam min {entry.get('ours_fps_per_camera_min')} gpu {entry.get('gpu')}"
            )
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu to try the script without a GPU")
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json")
    p.add_argument("--sections", default="contract,search,bench", help="which sections to run")
    p.add_argument("--cameras", default="2,4,8,16,32", help="bench camera counts")
    p.add_argument("--frames", type=int, default=150, help="bench frames per camera")
    p.add_argument("--live-seconds", type=float, default=6.0, help="bench live run per camera count")
    p.add_argument("--embed-batches", default="32,256,1024,4096", help="ReID batch sizes for crops/s")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16"], help="of the bench")
    p.add_argument("--max-frames", type=int, default=80, help="real frames for the contract checks")
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnxruntime"],
        help="runtime of the device side of the contract checks (torch: try the GPU path on a CPU)",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report_env = runtime_report(full=True)
    device = placement_for(args.device, "fp32", report_env)  # DeviceError: no such device, exit 2
    media = media_dir(None)
    report: dict[str, Any] = {"environment": doctor_lines(report_env), "device": device.label}
    sections = set(args.sections.split(","))
    frames = _frames(media, args.max_frames)
    args.out.mkdir(parents=True, exist_ok=True)
    if "contract" in sections:
        _section(
            report, "reid_contract", lambda: reid_contract(media, device, frames, args.backend), args.out
        )
        _section(
            report, "detector_contract", lambda: detector_contract(device, frames, args.backend), args.out
        )
    if "search" in sections:
        _section(report, "search", lambda: search(media, args.device), args.out)
    if "bench" in sections:
        _section(report, "bench", lambda: bench(args), args.out)
    print("\n".join(summary(report)))
    return 0


if __name__ == "__main__":
    from reidcam.core.errors import ReidcamError

    try:
        sys.exit(main())
    except ReidcamError as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        sys.exit(2)
