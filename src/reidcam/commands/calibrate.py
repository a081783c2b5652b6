"""``reidcam calibrate``: the similarity threshold for a target false-match rate, from labelled crops
(a Market-1501-layout folder) or from the sightings users confirmed and rejected in the identity memory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reidcam.commands.options import PIPELINE_MODEL, add_model_arg, add_weights_args
from reidcam.core.errors import ConfigError

if TYPE_CHECKING:
    from reidcam.match.calibration import Calibration, PairScores
    from reidcam.reid.backends.base import Embedder


def _splits(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "calibrate", help="pick the match threshold for a target false-match rate (labelled crops)"
    )
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="Market-1501-layout folder of labelled crops")
    source.add_argument(
        "--memory",
        type=Path,
        metavar="DATA_DIR",
        help="the identity memory of `reidcam serve --data-dir DATA_DIR`: pairs from the sightings "
        "users confirmed and rejected on their own cameras (no model is run)",
    )
    source.add_argument(
        "--auto",
        action="store_true",
        help="no labels: play the --source cameras (files, folders) through the pipeline and write each "
        "camera's label-free calibration to OUT/autocal.json, the data directory of `reidcam serve`",
    )
    c.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="CAM_ID=PATH",
        help="with --auto: a camera (video file, image folder or glob); repeatable",
    )
    c.add_argument("--config", help="with --auto: YAML config (detector, tracker, ReID, matcher settings)")
    c.add_argument("--db-url", help="with --memory: the database URL if not the SQLite file in DATA_DIR")
    add_model_arg(c)
    c.add_argument("--target-fmr", type=float, default=0.01, help="false-match rate to allow (default 0.01)")
    c.add_argument(
        "--splits",
        type=_splits,
        default=["query", "bounding_box_test", "bounding_box_train"],
        help="comma-separated splits to calibrate on (default: all three)",
    )
    c.add_argument(
        "--holdout-splits",
        type=_splits,
        default=[],
        help="splits (other identities) to check the chosen threshold on, e.g. query,bounding_box_test",
    )
    c.add_argument(
        "--all-pairs",
        action="store_true",
        help="same-person pairs from one camera count too (default: across cameras only)",
    )
    c.add_argument(
        "--out",
        type=Path,
        required=True,
        help="writes calibration.json, similarity_hist.png, roc.png (--auto: autocal.json)",
    )
    add_weights_args(c)
    c.set_defaults(func=run)


def _pairs(
    embedder: Embedder, data_dir: Path, splits: list[str], args: argparse.Namespace
) -> tuple[PairScores, int, int]:
    from reidcam.eval.dataset import labels, load_market
    from reidcam.eval.reid_eval import embed_items
    from reidcam.match.calibration import MAX_IMAGES, pair_similarities

    items = [i for s in load_market(data_dir, splits).splits.values() for i in s]
    if len(items) > MAX_IMAGES:
        keep = np.sort(np.random.default_rng(0).choice(len(items), MAX_IMAGES, replace=False))
        items = [items[i] for i in keep]
    vectors = embed_items(embedder, items, "embedding", progress=not args.no_progress)
    pids, cams = labels(items)
    try:
        scores = pair_similarities(vectors, pids, cams, cross_camera_only=not args.all_pairs)
    except ValueError as exc:
        raise ConfigError(f"{data_dir} ({', '.join(splits)}): {exc}") from exc
    return scores, len(items), len(set(pids.tolist()) - {-1, 0})


def _from_memory(args: argparse.Namespace) -> tuple[Calibration, PairScores]:
    """Pairs from the users' confirmations and rejections; the model is the one they were made with."""
    from reidcam.eval.feedback_pairs import feedback_pairs
    from reidcam.identity.feedback_set import load_feedback
    from reidcam.match.calibration import calibrate
    from reidcam.storage.db import default_url, make_engine

    if not args.db_url and not (args.memory / "reidcam.db").is_file():
        raise ConfigError(f"no identity memory in {args.memory} (expected reidcam.db; or give --db-url)")
    engine = make_engine(args.db_url or default_url(args.memory))
    try:
        model_id = None if args.model is None else args.model.split("=", 1)[0]
        fs = load_feedback(engine, model_id)
        scores = feedback_pairs(fs, cross_camera_only=not args.all_pairs)
    except ValueError as exc:
        raise ConfigError(f"identity memory {args.memory}: {exc}") from exc
    finally:
        engine.dispose()
    data = f"identity memory {args.memory}: confirmed/rejected sightings"
    n = len(fs.sighting_ids)
    return calibrate(scores, fs.model_id, args.target_fmr, n, fs.num_identities, data), scores


def _from_dataset(args: argparse.Namespace) -> tuple[Calibration, PairScores]:
    from reidcam.eval.embedders import load_embedder
    from reidcam.match.calibration import calibrate, with_holdout

    embedder = load_embedder(args.model or PIPELINE_MODEL, args.weights_dir, args.allow_download)
    scores, n_images, n_ids = _pairs(embedder, args.data, args.splits, args)
    data = f"{args.data} ({', '.join(args.splits)})"
    cal = calibrate(scores, embedder.model_id, args.target_fmr, n_images, n_ids, data)
    if args.holdout_splits:
        held, _, _ = _pairs(embedder, args.data, args.holdout_splits, args)
        cal = with_holdout(cal, held)
    return cal, scores


def run(args: argparse.Namespace) -> int:
    from reidcam.eval.plots import plot_roc, plot_similarity_hist
    from reidcam.match.calibration import save_calibration

    if not 0.0 < args.target_fmr < 1.0:
        raise ConfigError("--target-fmr must be within (0, 1)")
    if args.auto:
        from reidcam.commands.autocal_cmd import run_auto

        return run_auto(args)
    cal, scores = _from_memory(args) if args.memory is not None else _from_dataset(args)
    path = save_calibration(cal, args.out)
    plot_similarity_hist(scores, cal, args.out / "similarity_hist.png")
    plot_roc(cal, args.out / "roc.png")
    print(
        f"{cal.model_id}: threshold {cal.threshold:.4f} for target FMR {cal.target_fmr:g}: "
        f"FMR {cal.fmr:.4f}, "
        f"TPR {cal.tpr:.3f} on {cal.num_same} same / {cal.num_different} different pairs "
        f"({cal.num_images} images, {cal.num_identities} identities); "
        f"uncertain below {cal.uncertain_below:.4f}"
    )
    if cal.holdout is not None:
        h = cal.holdout
        print(
            f"held-out pairs ({', '.join(args.holdout_splits)}): FMR {h['fmr']:.4f}, TPR {h['tpr']:.3f} "
            f"on {h['num_same']} same / {h['num_different']} different"
        )
    print(f"wrote {path}, {args.out / 'similarity_hist.png'}, {args.out / 'roc.png'}")
    return 0
