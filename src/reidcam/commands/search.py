"""``reidcam search``: run the pipeline over sources and write the brief's output folders."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from reidcam.capture.base import SourceStatus
from reidcam.commands.options import add_run_args, config_from_args
from reidcam.core.errors import ConfigError
from reidcam.core.types import Sighting
from reidcam.pipeline.build import (
    build_cameras,
    build_embedder_from_config,
    build_models,
    placement_from_config,
)
from reidcam.pipeline.events import FanOutSink, FrameResult
from reidcam.pipeline.runner import Runner
from reidcam.reid.query import enroll, read_image
from reidcam.storage.search_output import SearchOutputSink, summarize

log = logging.getLogger(__name__)


class _Progress:
    """Progress bar on stderr: frames processed and matches so far."""

    def __init__(self, enabled: bool) -> None:
        self.bar = tqdm(total=None, unit="frame", file=sys.stderr, disable=not enabled, dynamic_ncols=True)
        self.matched = 0

    def on_frame(self, result: FrameResult) -> None:
        self.matched += sum(o.matched for o in result.observations)
        self.bar.set_postfix(matched=self.matched, refresh=False)
        self.bar.update(1)

    def on_sighting_closed(self, sighting: Sighting) -> None:
        return None

    def on_status(self, status: SourceStatus) -> None:
        return None

    def close(self) -> None:
        self.bar.close()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("search", help="find query people in cameras/videos/folders, write results")
    s.add_argument(
        "--query",
        action="append",
        required=True,
        metavar="IMG",
        help="a query image of the person (a crop); repeat for more views",
    )
    s.add_argument("--query-id", default="query", help="name of the query person (default: query)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--threshold", type=float, help="cosine similarity threshold (default: the model's)")
    s.add_argument(
        "--calibration",
        help="calibration.json of `reidcam calibrate` for this ReID model (its threshold is the default)",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_run_args(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if not cfg.cameras:
        raise ConfigError("no cameras: give --source CAM_ID=PATH_OR_URL or list cameras in the config")
    queries = [read_image(p) for p in args.query]
    cameras = build_cameras(cfg)  # bad sources fail here, before minutes of model loading
    placement = placement_from_config(cfg)  # a missing GPU fails here, before any model loads
    embedder = build_embedder_from_config(cfg, placement=placement)
    models = build_models(cfg, embedder=embedder, placement=placement)
    out = Path(args.out)
    sink = SearchOutputSink(out, cfg.output.save_crops, cfg.output.jpeg_quality)
    for i, (path, img) in enumerate(zip(args.query, queries, strict=True)):
        sink.save_query("query.jpg" if i == 0 else f"query_{i}{Path(path).suffix or '.jpg'}", img)
    enroll(models.gallery, embedder, args.query_id, queries, source=",".join(args.query))
    progress = _Progress(enabled=not args.no_progress)
    runner = Runner(cameras, models, FanOutSink([sink, progress]))
    try:
        runner.run()
    finally:
        progress.close()
        sink.close()
    summary = summarize(out)
    summary["threshold"] = models.matcher.settings.threshold
    summary["write_errors"] = sink.write_errors
    summary["out"] = str(out)
    print(json.dumps(summary))
    return 0
