"""``reidcam export-set``: labelled crops -> a Market-1501-layout set (train/test identities disjoint)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from reidcam.core.errors import ConfigError
from reidcam.detect.base import Detector


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    x = sub.add_parser(
        "export-set",
        help="write a Market-1501-layout ReID set from MOT ground truth, labelled frames, confirmed matches",
    )
    x.add_argument("--out", type=Path, required=True, help="output folder (replaced when --force)")
    x.add_argument("--mot", type=Path, help="MOTChallenge sequences (gt/gt.txt ids are the identities)")
    x.add_argument(
        "--frames", type=Path, help="labelled frames folder (frames/ + query/), e.g. market1501_2cam"
    )
    x.add_argument(
        "--labels", type=Path, help="labels JSON for --frames (default: the shipped Market labels)"
    )
    x.add_argument(
        "--search-output",
        type=Path,
        action="append",
        default=[],
        help="a `reidcam search` output: matches still in match_detections/ count as confirmed; repeatable",
    )
    x.add_argument(
        "--test-fraction", type=float, default=0.5, help="share of identities held out (default 0.5)"
    )
    x.add_argument("--seed", type=int, default=0, help="seed of the identity split (default 0)")
    x.add_argument("--min-height-px", type=float, default=50.0, help="smallest MOT box kept (default 50)")
    x.add_argument(
        "--min-visibility", type=float, default=0.25, help="least MOT visibility kept (default 0.25)"
    )
    x.add_argument(
        "--distractors",
        action="store_true",
        help="with --frames: add everybody else the detector finds there as gallery distractors (pid 0000)",
    )
    x.add_argument("--weights-dir", type=Path, help="detector weights folder for --distractors")
    x.add_argument("--force", action="store_true", help="replace an existing output folder")
    x.set_defaults(func=run)


def _detector(weights_dir: Path | None) -> Detector:
    from reidcam.config.schema import DetectorConfig
    from reidcam.detect import build_detector
    from reidcam.reid.weights import resolve_weights

    cfg = DetectorConfig()
    return build_detector(cfg, resolve_weights(cfg.weights, weights_dir))


def run(args: argparse.Namespace) -> int:
    from reidcam.eval.build_set import (
        DISTRACTOR,
        default_frame_labels,
        frame_distractor_crops,
        labelled_frame_crops,
        mot_crops,
        search_output_crops,
        split_identities,
        write_market_set,
    )
    from reidcam.eval.mot_io import find_sequences

    if not (args.mot or args.frames or args.search_output):
        raise ConfigError("nothing to export: give --mot, --frames and/or --search-output")
    if not 0.0 <= args.test_fraction <= 1.0:
        raise ConfigError("--test-fraction must be within [0, 1]")
    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            raise ConfigError(f"{args.out} is not empty: choose another --out or add --force")
        shutil.rmtree(args.out)
    crops, forced = [], []
    for n, seq in enumerate(find_sequences(args.mot) if args.mot else []):
        crops += mot_crops(seq, n + 1, args.min_height_px, args.min_visibility)
    if args.frames:
        labels = json.loads(args.labels.read_text("utf-8")) if args.labels else default_frame_labels()
        crops += labelled_frame_crops(args.frames, labels)
        if args.distractors:
            crops += frame_distractor_crops(args.frames, labels, _detector(args.weights_dir))
        forced.append(str(labels["identity"]))  # the one truly cross-camera identity: always held out
    crops += search_output_crops(args.search_output)
    if not crops:
        raise ConfigError("the sources gave no labelled crops")
    people = [c.identity for c in crops if c.identity != DISTRACTOR]
    test_ids = split_identities(people, args.test_fraction, args.seed, forced)
    summary = write_market_set(crops, args.out, test_ids)
    keys = ("identities", "distractors", "images")
    print(json.dumps({"out": str(args.out), **{k: summary[k] for k in keys}}))
    return 0
