"""``reidcam export``: a ``.pt`` (Ultralytics detector) or ``.pth`` (torchreid) to ONNX / OpenVINO."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from reidcam.core.errors import ConfigError

log = logging.getLogger(__name__)

FORMATS = ("onnx", "openvino")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "export",
        help="convert .pt / .pth weights to ONNX and OpenVINO, checking the outputs agree",
        description="A .pt is exported through Ultralytics (detector) and checked on person boxes; "
        "a .pth (torchreid checkpoint) is exported to ONNX with a dynamic batch and checked by "
        "cosine similarity of the embeddings (>= 0.999). A disagreeing export is removed.",
    )
    s.add_argument("weights", help="the .pt or .pth file")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--format", default="onnx,openvino", help="comma-separated: onnx, openvino")
    s.add_argument("--kind", choices=["auto", "detector", "reid"], default="auto", help="default: by suffix")
    s.add_argument("--imgsz", type=int, default=640, help="detector export input size (default 640)")
    s.add_argument("--model-id", help="ReID model id tag (default: file stem)")
    s.add_argument("--media-dir", help="folder with bus.jpg for the detector check (else $REIDCAM_MEDIA_DIR)")
    s.set_defaults(func=run)


def _kind(args: argparse.Namespace, path: Path) -> str:
    if args.kind != "auto":
        return str(args.kind)
    if path.suffix == ".pt":
        return "detector"
    if path.suffix in (".pth", ".tar"):
        return "reid"
    raise ConfigError(f"cannot tell what {path.name} is: use a .pt (detector) or .pth (ReID), or --kind")


def run(args: argparse.Namespace) -> int:
    path = Path(args.weights).expanduser()
    if not path.is_file():
        raise ConfigError(f"weights file not found: {path}")
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"--format takes {', '.join(FORMATS)}; got {args.format!r}")
    out = Path(args.out).expanduser()
    if _kind(args, path) == "detector":
        from reidcam.export import export_detector

        media = args.media_dir or os.environ.get("REIDCAM_MEDIA_DIR")
        report = export_detector(path, out, formats, args.imgsz, Path(media) if media else None)
    else:
        from reidcam.export import export_reid

        report = export_reid(path, out, formats, args.model_id)
    print(json.dumps(report, indent=2))
    return 0
