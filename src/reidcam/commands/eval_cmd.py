"""``reidcam eval reid|mot|search``: measure ReID ranking, tracking and person-search accuracy."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from reidcam.commands.options import PIPELINE_MODEL, add_model_arg, add_weights_args, app_config, write_json
from reidcam.config import AppConfig
from reidcam.core.errors import ConfigError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser(
        "eval", help="measure accuracy: ReID ranking (CMC/mAP), tracking (MOTA/IDF1/HOTA), search"
    )
    esub = e.add_subparsers(dest="eval_command", required=True)
    r = esub.add_parser("reid", help="CMC rank-1/5/10 and mAP on a Market-1501-layout folder")
    r.add_argument("--data", type=Path, required=True, help="folder with query/ and bounding_box_test/")
    add_model_arg(r, many=True)
    r.add_argument("--max-rank", type=int, default=20, help="length of the CMC curve (default 20)")
    r.add_argument("--out", type=Path, help="write reid_eval.json and cmc.png here")
    add_weights_args(r)
    m = esub.add_parser("mot", help="MOTA, IDF1, HOTA of detector + tracker on MOTChallenge sequences")
    m.add_argument("--gt", type=Path, required=True, help="a sequence folder, or a folder of them")
    m.add_argument("--config", help="YAML config whose detector/tracker settings to use")
    m.add_argument("--out", type=Path, help="write mot_eval.json here")
    add_weights_args(m)
    s = esub.add_parser("search", help="person-search precision/recall against hand-labelled frames")
    s.add_argument(
        "--frames", type=Path, required=True, help="folder with frames/ (c<cam>s<seq>_*.jpg) and query/"
    )
    s.add_argument("--labels", type=Path, help="labels JSON (default: the shipped Market two-camera labels)")
    add_model_arg(s, many=True)
    s.add_argument("--threshold", type=float, help="similarity threshold (default: each model's)")
    s.add_argument("--config", help="YAML config for detector/tracker/matcher settings")
    s.add_argument("--out", type=Path, help="write search_eval.json here")
    add_weights_args(s)
    from reidcam.commands.autocal_cmd import register_eval as register_autocal

    register_autocal(esub)
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    handlers = {"reid": _run_reid, "mot": _run_mot, "search": _run_search}
    if args.eval_command not in handlers:  # subcommands registered by their own modules
        return int(args.eval_handler(args))
    return handlers[args.eval_command](args)


def _run_reid(args: argparse.Namespace) -> int:
    from reidcam.eval.dataset import load_market
    from reidcam.eval.embedders import load_embedder
    from reidcam.eval.reid_eval import evaluate_embedder

    data = load_market(args.data, ("query", "bounding_box_test"))
    reports = []
    for spec in args.model or [PIPELINE_MODEL]:
        embedder = load_embedder(spec, args.weights_dir, args.allow_download)
        rep = evaluate_embedder(embedder, data, args.max_rank, progress=not args.no_progress)
        r = rep.result
        print(
            f"{rep.model_id:<42} rank-1 {r.rank(1):6.1%}  rank-5 {r.rank(5):6.1%}  "
            f"rank-10 {r.rank(10):6.1%}  "
            f"mAP {r.mAP:6.1%}  ({r.num_valid} queries, {r.num_skipped} without a match skipped)"
        )
        reports.append(rep)
    if args.out is not None:
        from reidcam.eval.plots import plot_cmc

        write_json(args.out, "reid_eval.json", [rep.as_dict() for rep in reports])
        png = plot_cmc(
            {rep.model_id: rep.result.cmc for rep in reports},
            args.out / "cmc.png",
            f"CMC on {args.data.name}",
        )
        print(f"wrote {args.out / 'reid_eval.json'} and {png}")
    return 0


def mot_table(rows: list[Any]) -> str:
    """A Markdown table of MotScores rows."""
    head = (
        "| sequence | frames | GT boxes | GT ids | MOTA | IDF1 | HOTA | DetA | AssA "
        "| recall | precision | IDSW |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r.sequence} | {r.frames} | {r.gt_boxes} | {r.gt_ids} | {r.mota:.3f} | {r.idf1:.3f} "
            f"| {r.hota:.3f} "
            f"| {r.deta:.3f} | {r.assa:.3f} | {r.recall:.3f} | {r.precision:.3f} | {r.id_switches} |"
        )
    return "\n".join(lines)


def _run_mot(args: argparse.Namespace) -> int:
    from reidcam.detect import build_detector
    from reidcam.eval.mot import evaluate_sequences
    from reidcam.eval.mot_io import find_sequences
    from reidcam.reid.weights import resolve_weights
    from reidcam.track import build_tracker

    cfg = app_config(args)
    seqs = find_sequences(args.gt)
    detector = build_detector(
        cfg.detector, resolve_weights(cfg.detector.weights, cfg.weights.dir, cfg.weights.allow_download)
    )

    def make_tracker(seq: Any) -> Any:
        return build_tracker(cfg.tracker.model_copy(update={"frame_rate": max(1, round(seq.frame_rate))}))

    total = sum(len(s.frames) for s in seqs)
    with tqdm(total=total, unit="frame", file=sys.stderr, disable=True if args.no_progress else None) as bar:
        rows = evaluate_sequences(seqs, detector, make_tracker, on_frame=lambda: bar.update(1))
    print(mot_table(rows))
    print(
        f"detector {cfg.detector.weights} (conf {cfg.detector.confidence}), tracker {cfg.tracker.kind}; "
        f"{total} frames: small-sample figures"
    )
    write_json(
        args.out,
        "mot_eval.json",
        {
            "detector": cfg.detector.model_dump(),
            "tracker": cfg.tracker.model_dump(),
            "sequences": [r.as_dict() for r in rows],
        },
    )
    return 0


def _search_config(args: argparse.Namespace, spec: str) -> AppConfig:
    from reidcam.eval.embedders import parse_model_spec

    frames = args.frames / "frames"
    cams = sorted({p.name.split("s", 1)[0] for p in frames.glob("c*s*_*.jpg")})
    if not cams:
        raise ConfigError(f"no frames named c<cam>s<seq>_*.jpg in {frames}")
    name, weights = parse_model_spec(spec)
    matcher = {"threshold": args.threshold} if args.threshold is not None else {}
    cameras = [{"id": c, "source": str(frames / f"{c}s*_*.jpg")} for c in cams]
    return app_config(args, cameras=cameras, reid={"model": name, "weights": weights}, matcher=matcher)


def _run_search(args: argparse.Namespace) -> int:
    from reidcam.eval.build_set import default_frame_labels
    from reidcam.eval.search_eval import run_search, score_search
    from reidcam.pipeline.build import build_embedder_from_config
    from reidcam.reid.enroll import read_image

    labels = json.loads(args.labels.read_text("utf-8")) if args.labels else default_frame_labels()
    queries = [read_image(p) for p in sorted((args.frames / "query").glob("*.jpg"))]
    if not queries:
        raise ConfigError(f"no query crops (*.jpg) in {args.frames / 'query'}")
    results = []
    for spec in args.model or [PIPELINE_MODEL]:
        cfg = _search_config(args, spec)
        embedder = build_embedder_from_config(cfg)
        records, threshold = run_search(cfg, embedder, queries)
        sc = score_search(records, labels, embedder.model_id, threshold)
        prec = "n/a" if sc.precision is None else f"{sc.precision:.1%}"
        print(
            f"{sc.model_id:<42} threshold {threshold:.3f}  "
            f"precision {prec} ({sc.true_matches}/{sc.matched})  "
            f"recall {sc.recall:.1%} ({sc.frames_found}/{sc.frames_required} frames)"
        )
        results.append(sc.as_dict())
    write_json(args.out, "search_eval.json", results)
    return 0
