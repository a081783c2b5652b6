"""Command-line options that override the config file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reidcam.capture import parse_source_arg
from reidcam.config import AppConfig, ReidConfig, load_config
from reidcam.core.errors import ConfigError


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs cameras (search, serve, bench)."""
    p.add_argument("--config", help="YAML config file (see `reidcam check-config`)")
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="CAM_ID=PATH_OR_URL",
        help="a camera: USB index, rtsp/http URL, video file, image folder or glob; repeatable",
    )
    p.add_argument("--weights-dir", help="folder with model weights (else $REIDCAM_WEIGHTS_DIR, cache)")
    p.add_argument("--allow-download", action="store_true", help="download missing weights (needs internet)")
    add_device_arg(p)


def add_device_arg(p: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|cuda:N``: overrides ``performance.device``."""
    p.add_argument(
        "--device",
        help="where the models run: auto (a CUDA GPU if usable, else the CPU), cpu, cuda or cuda:N; "
        "an explicit cuda without one exits with code 2 (default: performance.device, auto)",
    )


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """The config file (or defaults) with --source, --weights-dir, --allow-download applied.

    ``--source`` replaces the config's cameras: on the command line the user
    says exactly which cameras to watch.
    """
    cfg = load_config(getattr(args, "config", None))
    data = cfg.model_dump()
    if args.source:
        data["cameras"] = [{"id": cid, "source": src} for cid, src in map(parse_source_arg, args.source)]
    if getattr(args, "weights_dir", None):
        data["weights"]["dir"] = Path(args.weights_dir)
    if getattr(args, "allow_download", False):
        data["weights"]["allow_download"] = True
    if getattr(args, "device", None):
        data["performance"]["device"] = args.device
    if getattr(args, "threshold", None) is not None:
        data["matcher"]["threshold"] = args.threshold
    if getattr(args, "calibration", None):
        data["matcher"]["calibration"] = Path(args.calibration)
    if getattr(args, "broker", None):
        data["broker"]["url"] = args.broker  # credentials in it move to the secret fields
    if getattr(args, "storage_url", None):
        data["storage"]["url"] = args.storage_url
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid command-line option: {msg}") from exc


DEFAULT_MODEL = "osnet_x0_25_msmt17"  # the base of `reidcam finetune` (an OSNet)
PIPELINE_MODEL = ReidConfig().model  # what eval and calibrate measure unless told: the pipeline's


def add_weights_args(p: argparse.ArgumentParser) -> None:
    """--weights-dir, --allow-download, --no-progress: shared by the accuracy commands."""
    p.add_argument(
        "--weights-dir", type=Path, help="folder with model weights (else $REIDCAM_WEIGHTS_DIR, cache)"
    )
    p.add_argument("--allow-download", action="store_true", help="download missing weights (needs internet)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def add_model_arg(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument(
        "--model",
        action="append" if many else "store",
        metavar="NAME[=WEIGHTS]",
        help=f"ReID model: a registry name, or NAME=PATH for other weights (.onnx/.pth/.xml); "
        f"{'repeatable; ' if many else ''}default {PIPELINE_MODEL}",
    )


def app_config(args: argparse.Namespace, **overrides: Any) -> AppConfig:
    """The config file (or defaults), --weights-dir/--allow-download and ``overrides`` (section -> dict)."""
    data = load_config(getattr(args, "config", None)).model_dump()
    if args.weights_dir:
        data["weights"]["dir"] = Path(args.weights_dir)
    if args.allow_download:
        data["weights"]["allow_download"] = True
    for section, values in overrides.items():
        data[section] = {**data[section], **values} if isinstance(values, dict) else values
    try:
        return AppConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid option: {exc}") from exc


def write_json(out: Path | None, name: str, data: Any) -> Path | None:
    if out is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
