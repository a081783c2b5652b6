"""``reidcam eval autocal``: the label-free per-camera estimate against MOTChallenge ground truth."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from reidcam.commands.options import add_weights_args, app_config, write_json


def register_eval(esub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def run_auto(args: argparse.Namespace) -> int:
    """``reidcam calibrate --auto``: gather each camera's pairs, add them to OUT/autocal.json."""
    from reidcam.commands.options import config_from_args
    from reidcam.core.errors import ConfigError
    from reidcam.match.autocal_store import autocal_path, load_estimator, save_estimator
    from reidcam.match.threshold_rule import hard_to_separate, pct
    from reidcam.pipeline.autocal_run import gather
    from reidcam.pipeline.build import autocal_settings, camera_sources

    if not args.source:
        raise ConfigError("--auto needs the cameras to play: --source CAM_ID=PATH (repeatable)")
    cfg = config_from_args(args)
    cfg = cfg.model_copy(update={"matcher": cfg.matcher.model_copy(update={"target_fmr": args.target_fmr})})
    new, _ = gather(cfg)
    path = autocal_path(args.out)
    est = load_estimator(path, new.model_id, autocal_settings(cfg), camera_sources(cfg))
    for cid in new.camera_ids():
        s = new.scores(cid)
        est.add_pairs(cid, s.different, s.same, new.source_of(cid))
    save_estimator(est, path)
    for e in est.estimates():
        t = "–" if e.threshold is None else f"{e.threshold:.4f}"
        tmr = "–" if e.tmr_at_target is None else pct(e.tmr_at_target)
        state = "enough evidence" if e.enough else "too little evidence yet"
        print(
            f"camera {e.camera_id}: {e.num_negative} different-people / {e.num_positive} same-person pairs "
            f"({state}); threshold {t} for {pct(e.target_fmr)} false matches, true matches there {tmr}"
        )
        if hard_to_separate(e):
            print(f"  warning: {hard_to_separate(e)}")
    print(f"wrote {path} (model {est.model_id})")
    return 0
