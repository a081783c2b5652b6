"""``reidcam bench``: measure the pipeline against the naive loop; prints one JSON document."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from reidcam.core.errors import ConfigError

log = logging.getLogger(__name__)


def _ints(text: str) -> list[int]:
    try:
        return [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"expected a comma-separated list of numbers, got {text!r}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "bench",
        help="measure FPS, stage times, latency, ReID crops/s and gallery search; prints JSON",
        description="Runs the sample videos of $REIDCAM_MEDIA_DIR (vtest.avi, people-detection.264) as "
        "N cameras through the pipeline and through the naive loop on the same frames, then the "
        "embedder and the gallery index on their own. Reports; never fails on a figure.",
    )
    s.add_argument("--cameras", default="2", help="camera counts to run, e.g. 2,4 (default 2)")
    s.add_argument("--frames", type=int, default=300, help="frames per camera for our pipeline (default 300)")
    s.add_argument(
        "--naive-frames", type=int, default=40, help="frames per camera for the naive loop (default 40)"
    )
    s.add_argument("--repeat", type=int, default=2, help="runs of our pipeline per camera count (default 2)")
    s.add_argument(
        "--live-fps", type=float, default=25.0, help="paced live-camera run at this rate; 0 skips it"
    )
    s.add_argument("--live-seconds", type=float, default=12.0, help="length of the live run (default 12)")
    s.add_argument(
        "--index-sizes", default="10000,100000,1000000", help="gallery sizes to search; empty skips"
    )
    s.add_argument(
        "--hnsw-max", type=int, default=1_000_000, help="largest size an HNSW index is built for (slow)"
    )
    s.add_argument("--threads", type=int, help="inference threads (default: all usable cores)")
    s.add_argument(
        "--detector", default="yolox_nano", help="detector weights name or path (default yolox_nano)"
    )
    s.add_argument(
        "--detector-backend",
        default="auto",
        choices=["auto", "ultralytics", "onnxruntime", "openvino", "torch"],
        help="detector runtime (default auto: see detector.backend)",
    )
    s.add_argument("--detector-threads", type=int, help="detector intra-op threads (default: --threads)")
    s.add_argument("--detector-workers", type=int, help="frames detected at once (default: cores / threads)")
    s.add_argument("--reid-model", help="ReID registry name (default: the config default, reid.model)")
    s.add_argument("--reid-backend", default="auto", choices=["auto", "onnxruntime", "openvino", "torch"])
    s.add_argument("--embed-runtimes", default="onnxruntime,openvino", help="runtimes for the crops/s figure")
    s.add_argument("--skip-naive", action="store_true", help="do not run the naive loop")
    s.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda or cuda:N; on a GPU the report adds memory and utilisation "
        "(an explicit cuda without one exits with code 2)",
    )
    s.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16"], help="fp16 on a GPU")
    s.add_argument("--fps-goal", type=float, default=25.0, help="FPS per camera for the largest-count figure")
    s.add_argument(
        "--embed-batches", default="32", help="ReID batch sizes for the crops/s figure, e.g. 32,1024"
    )
    s.add_argument(
        "--sequential",
        action="store_true",
        help="detector and embedder take turns on one thread (default: pipelined on two)",
    )
    s.add_argument("--weights-dir", help="model weights folder (else $REIDCAM_WEIGHTS_DIR, cache)")
    s.add_argument("--media-dir", help="sample videos folder (else $REIDCAM_MEDIA_DIR)")
    s.add_argument("--out", help="also write the JSON document to this file")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reidcam.config.schema import ReidConfig
    from reidcam.perf.bench import BenchOptions, run_bench
    from reidcam.perf.harness import require_harness

    reid_default = ReidConfig().model

    opts = BenchOptions(
        cameras=_ints(args.cameras),
        frames=args.frames,
        naive_frames=args.naive_frames,
        repeat=max(1, args.repeat),
        live_fps=args.live_fps,
        live_seconds=args.live_seconds,
        index_sizes=_ints(args.index_sizes),
        hnsw_max=args.hnsw_max,
        threads=args.threads,
        detector=args.detector,
        detector_backend=args.detector_backend,
        detector_threads=args.detector_threads,
        detector_workers=args.detector_workers,
        reid_backend=args.reid_backend,
        reid_model=args.reid_model or reid_default,
        embed_runtimes=[r for r in args.embed_runtimes.split(",") if r.strip()],
        weights_dir=Path(args.weights_dir) if args.weights_dir else None,
        media_dir=Path(args.media_dir) if args.media_dir else None,
        skip_naive=args.skip_naive,
        pipelined=not args.sequential,
        device=args.device,
        precision=args.precision,
        fps_goal=args.fps_goal,
        embed_batches=_ints(args.embed_batches) or [32],
    )
    if not opts.cameras:
        raise ConfigError("--cameras needs at least one camera count")
    if opts.index_sizes:
        require_harness()  # before any model loads: a wheel has no benchmarks/harness
    report = run_bench(opts)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0
