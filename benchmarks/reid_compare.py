"""ReID models side by side on every labelled set of the shared media; prints one JSON document.

For each ``MODEL[@BACKEND][+flip]`` spec: TMR at FMR 1 % / 0.1 % on MOT17-mini ground truth (first vs
last frame), rank-1 / mAP / TMR on an ``reidcam export-set`` folder, and crops/s (batches of 32).

    reidcam export-set --mot $M/MOT17-mini --frames $M/market1501_2cam --distractors --out out/reidset
    python benchmarks/reid_compare.py --set out/reidset \\
        osnet_x0_25_msmt17 osnet_x0_25_msmt17+flip person-reidentification-retail-0288@openvino ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from reidcam.eval.dataset import load_market
from reidcam.eval.embedders import load_embedder
from reidcam.eval.model_compare import crops_per_second, export_set_scores, mot_pair_scores, rates_at_fmrs


def parse(spec: str) -> tuple[str, str, bool]:
    """``name[@backend][+flip]`` -> (name, backend, flip)."""
    flip = spec.endswith("+flip")
    spec = spec.removesuffix("+flip")
    name, _, backend = spec.partition("@")
    return name, backend or "auto", flip


def one_model(spec: str, media: Path, data: Path, threads_note: str) -> dict[str, Any]:
    name, backend, flip = parse(spec)
    embedder = load_embedder(name, backend=backend, flip_tta=flip)
    mot_scores, crops = mot_pair_scores(embedder, media / "MOT17-mini")
    images = [c.image for c in crops][:32]
    return {
        "model": spec,
        "dim": embedder.dim,
        "mot17_first_last": rates_at_fmrs(mot_scores).__dict__,
        "export_set": export_set_scores(embedder, load_market(data, ("query", "bounding_box_test"))),
        "crops_per_s": crops_per_second(embedder, images),
        "threads": threads_note,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="MODEL[@BACKEND][+flip] registry names")
    ap.add_argument("--set", type=Path, required=True, help="export-set folder (query/, bounding_box_test/)")
    ap.add_argument("--media-dir", type=Path, default=os.environ.get("REIDCAM_MEDIA_DIR"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.media_dir is None:
        ap.error("--media-dir or REIDCAM_MEDIA_DIR is needed")
    note = f"runtime default threads, {os.cpu_count()} cores"
    rows = [one_model(m, args.media_dir, args.set, note) for m in args.models]
    json.dump(rows, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
