"""Run the pipeline over recorded sources into a data directory: identity memory + sampled track crops.

What ``reidcam serve`` keeps, plus the per-track crops ``reidcam finetune --from-memory`` learns
from (``TrackCropSink``). No ground truth is read. Prints one JSON summary.

    REIDCAM_WEIGHTS_DIR=... python benchmarks/collect_memory.py --data-dir out/mem \\
        --source vtest=$REIDCAM_MEDIA_DIR/vtest.avi \\
        --source mot02=$REIDCAM_MEDIA_DIR/MOT17-mini/MOT17-02-FRCNN/img1
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from reidcam.commands.options import parse_source_arg
from reidcam.config import AppConfig
from reidcam.core.events import FanOutSink
from reidcam.identity import IdentitySink
from reidcam.identity.setup import open_memory
from reidcam.identity.track_crops import TrackCropSink
from reidcam.pipeline.build import build_models, build_runner


def _config(args: argparse.Namespace) -> AppConfig:
    cameras = [{"id": cid, "source": src} for cid, src in map(parse_source_arg, args.source)]
    data: dict[str, object] = {"cameras": cameras}
    if args.weights_dir:
        data["weights"] = {"dir": str(args.weights_dir)}
    return AppConfig.model_validate(data)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--source", action="append", required=True, metavar="CAM_ID=PATH")
    p.add_argument("--weights-dir", type=Path)
    p.add_argument("--every-n-frames", type=int, default=1, help="keep a track's crop every N frames")
    p.add_argument("--max-per-track", type=int, default=64)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = _config(args)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    memory = open_memory(cfg, args.data_dir)
    ids = IdentitySink(memory)
    crops = TrackCropSink(args.data_dir, args.every_n_frames, args.max_per_track)
    t0 = time.monotonic()
    try:
        build_runner(cfg, build_models(cfg), FanOutSink([ids, crops])).run()
    finally:
        ids.close()
        counts = memory.counts()
        memory.close()
    summary = {
        "data_dir": str(args.data_dir),
        "sources": args.source,
        "seconds": round(time.monotonic() - t0, 1),
        "sightings_written": ids.written,
        "track_crops_saved": crops.saved,
        "rows": counts,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
