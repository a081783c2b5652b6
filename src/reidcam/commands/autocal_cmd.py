"""``reidcam eval autocal``: the label-free per-camera estimate against MOTChallenge ground truth."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from reidcam.commands.eval_cmd import add_weights_args, app_config, write_json


def register_eval(esub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    a = esub.add_parser(
        "autocal",
        help="label-free false/true-match rates per camera vs the truth of MOTChallenge ground truth",
    )
    a.add_argument("--mot", type=Path, required=True, help="a sequence folder, or a folder of them")
    a.add_argument("--config", help="YAML config for detector/tracker/ReID/matcher settings")
    a.add_argument("--fixed", type=float, default=0.65, help="the fixed threshold to compare at (0.65)")
    a.add_argument(
        "--embed-interval",
        type=int,
        default=1,
        help="reid.embed_interval_frames for the run (default 1: MOT17-mini keeps 4-8 frames a sequence)",
    )
    a.add_argument("--out", type=Path, help="write autocal_eval.json here")
    add_weights_args(a)
    a.set_defaults(eval_handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from reidcam.eval.autocal_eval import mot_cameras, table, validate
    from reidcam.eval.mot_io import find_sequences
    from reidcam.pipeline.autocal_run import gather

    seqs = find_sequences(args.mot)
    cfg = app_config(
        args,
        cameras=mot_cameras(seqs),
        reid={"embed_interval_frames": args.embed_interval},
        performance={"max_crops_per_step": 1024},
    )
    estimator, log = gather(cfg)
    rows = validate(seqs, estimator, log, args.fixed)
    print(table(rows))
    pooled = rows[-1]
    worst = max(
        abs(pooled.est_fmr_fixed - pooled.gt_fmr_fixed), abs(pooled.est_fmr_chosen - pooled.gt_fmr_chosen)
    )
    target = estimator.settings.target_fmr
    print(
        f"ReID {estimator.model_id}, detector {cfg.detector.weights}; threshold chosen for "
        f"{100 * target:g} % false matches on the label-free pairs; pooled error "
        f"{100 * worst:.2f} points (at {args.fixed} and at {pooled.threshold:.4f})"
        + ("" if not math.isnan(pooled.threshold) else "; no different-people pairs found")
    )
    write_json(
        args.out, "autocal_eval.json", {"model_id": estimator.model_id, "rows": [r.as_dict() for r in rows]}
    )
    if args.out is not None:
        print(json.dumps({"wrote": str(args.out / "autocal_eval.json")}))
    return 0
