"""``reidcam finetune``: fine-tune the shipped OSNet on a Market-layout set (``--data``) or on the
deployment's own tracks without labels (``--from-memory``), score before/after."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from reidcam.commands.options import DEFAULT_MODEL, add_weights_args
from reidcam.core.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    f = sub.add_parser("finetune", help="fine-tune the OSNet embedder on labelled crops (CPU, minutes)")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        type=Path,
        help="Market-layout set: trains on bounding_box_train/, scores on query/ + bounding_box_test/",
    )
    src.add_argument(
        "--from-memory",
        type=Path,
        metavar="DATA_DIR",
        help="a data directory of `reidcam serve`: its clean tracks are the identities (no labels); "
        "also writes calibration.json (label-free, on the latest tracks held back from training)",
    )
    f.add_argument(
        "--out",
        type=Path,
        required=True,
        help="writes <name>.pth, <name>.pth.sha256, finetune.json (and calibration.json with --from-memory)",
    )
    _memory_args(f)
    f.add_argument(
        "--base",
        default=DEFAULT_MODEL,
        help=f"ONNX OSNet x0_25 to start from: registry name or .onnx path (default {DEFAULT_MODEL})",
    )
    f.add_argument(
        "--name", default="osnet_x0_25_finetuned", help="model name of the result (must start with osnet)"
    )
    f.add_argument("--epochs", type=int, default=8, help="epochs (default 8)")
    f.add_argument("--lr", type=float, default=1e-4, help="backbone learning rate (default 1e-4)")
    f.add_argument(
        "--ce-weight",
        type=float,
        default=0.0,
        help="weight of an identity cross-entropy term (default 0: triplet only)",
    )
    f.add_argument(
        "--distill-weight",
        type=float,
        default=0.0,
        help="weight of a term keeping vectors close to the original model's (default 0)",
    )
    f.add_argument(
        "--freeze",
        default="conv1,conv2,conv3",
        help="comma-separated top-level blocks kept frozen (default conv1,conv2,conv3; '' trains all)",
    )
    f.add_argument(
        "--max-seconds", type=float, default=600.0, help="stop training after this long (default 600)"
    )
    f.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--onnx", action="store_true", help="also export the result as ONNX")
    add_weights_args(f)
    f.set_defaults(func=run)


def _memory_args(f: argparse.ArgumentParser) -> None:
    f.add_argument(
        "--heldout",
        type=Path,
        help="with --from-memory: a labelled Market-layout set (query/, bounding_box_test/) to score",
    )
    f.add_argument(
        "--min-crops", type=int, default=4, help="with --from-memory: crops on disk a track needs (default 4)"
    )
    f.add_argument(
        "--min-track-s", type=float, default=1.0, help="with --from-memory: shortest track used (default 1 s)"
    )
    f.add_argument(
        "--calib-fraction",
        type=float,
        default=0.25,
        help="with --from-memory: share of each camera's latest tracks held back to calibrate (default 0.25)",
    )
    f.add_argument(
        "--target-fmr", type=float, default=0.01, help="with --from-memory: calibration target (default 0.01)"
    )
    f.add_argument(
        "--storage-url", help="with --from-memory: the memory's database URL (default: SQLite there)"
    )


def _base(args: argparse.Namespace) -> tuple[Any, Path]:
    """The ONNX OSNet to start from, run by ONNX Runtime, and its file."""
    from reidcam.config.schema import ReidConfig
    from reidcam.reid.backends import build_embedder
    from reidcam.reid.weights import resolve_weights

    if not args.name.startswith("osnet"):
        raise ConfigError("--name must start with 'osnet' (it selects the OSNet preprocessing when loaded)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    onnx_path = resolve_weights(args.base, args.weights_dir, args.allow_download)
    if onnx_path.suffix.lower() != ".onnx":
        raise ConfigError(f"--base must be an ONNX OSNet x0_25, got {onnx_path}")
    base_name = args.base if not Path(args.base).suffix else "osnet_x0_25"
    return build_embedder(ReidConfig(model=base_name, backend="onnxruntime"), onnx_path), onnx_path


def _settings(args: argparse.Namespace) -> Any:
    from reidcam.eval.finetune import FinetuneSettings

    return FinetuneSettings(
        epochs=args.epochs,
        lr=args.lr,
        ce_weight=args.ce_weight,
        distill_weight=args.distill_weight,
        frozen=tuple(b.strip() for b in args.freeze.split(",") if b.strip()),
        max_seconds=args.max_seconds,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    if args.from_memory is not None:
        return run_memory(args)
    from reidcam.eval.dataset import load_market
    from reidcam.eval.finetune_run import run_finetune
    from reidcam.eval.plots import plot_cmc, plot_roc_compare

    base, onnx_path = _base(args)
    data = load_market(args.data)
    result = run_finetune(
        base, onnx_path, data, args.out, args.name, _settings(args), args.onnx, not args.no_progress
    )
    rep = result.report
    (args.out / "finetune.json").write_text(json.dumps(rep, indent=2), encoding="utf-8")
    before_label, after_label = f"before ({base.model_id})", f"after ({args.name})"
    plot_cmc(
        {before_label: rep["before"]["cmc"], after_label: rep["after"]["cmc"]},
        args.out / "cmc_before_after.png",
        "Held-out identities, before/after fine-tuning",
    )
    plot_roc_compare(
        {before_label: result.pairs_before, after_label: result.pairs_after},
        args.out / "roc_before_after.png",
        "Held-out pairs, before/after fine-tuning",
    )
    keys = ("rank1", "rank5", "mAP", "tpr_at_fmr_1e2", "tpr_at_fmr_1e3", "same_mean", "different_mean")
    print(f"conversion check: min cosine {rep['conversion_min_cosine']:.6f} (ONNX Runtime vs PyTorch)")
    print(
        f"trained {rep['training']['steps']} steps in {rep['training']['seconds']:.0f} s on "
        f"{rep['train']['images']} crops of {rep['train']['identities']} identities"
    )
    for key in keys:
        print(f"  {key:<16} before {rep['before'][key]:.4f}  after {rep['after'][key]:.4f}")
    print(f"wrote {result.weights} (sha256 {result.sha256}), {args.out / 'finetune.json'}")
    print(f"use it: reid: {{model: {args.name}, weights: {result.weights}, backend: torch}}")
    return 0


def run_memory(args: argparse.Namespace) -> int:
    """``--from-memory``: train on the deployment's clean tracks, write weights and calibration."""
    from reidcam.eval.dataset import load_market
    from reidcam.eval.finetune_memory import run_finetune_memory
    from reidcam.eval.memory_set import MemorySetSettings, build_memory_set
    from reidcam.match.calibration import save_calibration

    base, onnx_path = _base(args)
    mset = build_memory_set(
        args.from_memory, MemorySetSettings(args.min_crops, args.min_track_s), args.storage_url
    )
    heldout = None if args.heldout is None else load_market(args.heldout, ("query", "bounding_box_test"))
    result = run_finetune_memory(
        base,
        onnx_path,
        mset,
        args.out,
        args.name,
        _settings(args),
        heldout,
        args.calib_fraction,
        args.target_fmr,
        args.onnx,
    )
    rep = result.report
    if result.calibration is not None:
        rep["calibration"] = str(save_calibration(result.calibration, args.out))
    (args.out / "finetune.json").write_text(json.dumps(rep, indent=2), encoding="utf-8")
    m, tr = rep["memory"], rep["train"]
    print(f"memory: {m['tracks']} clean tracks, {m['crops']} crops, skipped {m['skipped']}")
    print(
        f"trained {rep['training']['steps']} steps in {rep['training']['seconds']:.0f} s on "
        f"{tr['crops']} crops of {tr['tracks']} tracks ({tr['negative_pairs']} co-occurring pairs)"
    )
    for part in ("label_free", "heldout"):
        for key, before in rep["before"].get(part, {}).items():
            print(f"  {part:<10} {key:<16} before {before}  after {rep['after'][part].get(key)}")
    print(f"wrote {result.weights} (sha256 {result.sha256}), {args.out / 'finetune.json'}")
    if result.calibration is None:
        print("no calibration written: too few held-back tracks seen together (see finetune.json)")
    else:
        print(f"calibration: {rep['calibration']} (threshold {result.calibration.threshold})")
    print(f"use it: reid: {{model: {args.name}, weights: {result.weights}, backend: torch}}")
    return 0
