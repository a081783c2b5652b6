"""People absent from a video must get no "match" at the defaults; prints one JSON document.

Runs the cases of ``reidcam.eval.absent`` (vtest.avi people in people-detection.264, the Market
queries in both videos, MOT17-09 people in the other MOT17-mini sequences) through the real
pipeline with the default config, optionally overridden (``--set reid.model=... --set
matcher.min_good_crops=2``). Every "match" counted is a false match.

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/absent_people.py --frames 300
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from reidcam.config import AppConfig
from reidcam.eval.absent import default_cases, run_case
from reidcam.pipeline.build import build_models


def overrides(pairs: list[str]) -> dict[str, Any]:
    """``section.key=value`` (YAML value) pairs -> a nested config dict."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300, help="frames per camera (default 300)")
    ap.add_argument("--set", action="append", default=[], help="config override section.key=value")
    ap.add_argument("--media-dir", type=Path, default=os.environ.get("REIDCAM_MEDIA_DIR"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.media_dir is None:
        ap.error("--media-dir or REIDCAM_MEDIA_DIR is needed")
    cfg = AppConfig.model_validate(overrides(args.set))
    models = build_models(cfg)
    cases = default_cases(models, args.media_dir)
    rows = [run_case(cfg, models, case, args.frames).as_dict() for case in cases]
    json.dump({"model": models.embedder.model_id, "overrides": args.set, "cases": rows}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
