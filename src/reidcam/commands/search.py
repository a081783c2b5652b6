"""``reidcam search``: run the pipeline over sources and write the brief's output folders."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reidcam.capture import source_problems
from reidcam.commands.options import add_run_args, config_from_args
from reidcam.commands.progress import Progress
from reidcam.config import AppConfig
from reidcam.core.errors import ConfigError, SourceError
from reidcam.core.events import FanOutSink
from reidcam.outputs.search_folders import SearchOutputSink, summarize, write_summary
from reidcam.pipeline.build import (
    build_cameras,
    build_embedder_from_config,
    build_models,
    placement_from_config,
)
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.step import Models
from reidcam.reid.enroll import enroll, read_image

log = logging.getLogger(__name__)

#: A query person's name: it names a folder (``match_detections/<name>/``), so no paths.
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("search", help="find query people in cameras/videos/folders, write results")
    s.add_argument(
        "--query",
        action="append",
        required=True,
        metavar="[NAME=]IMG",
        help="a query image (a crop) of a person called NAME; repeat for more views and more people. "
        "A bare IMG belongs to the person named by --query-id",
    )
    s.add_argument("--query-id", default="query", help="name of the unnamed query person (default: query)")
    s.add_argument(
        "--out", required=True, help="output folder (an earlier search's results there are replaced)"
    )
    s.add_argument("--threshold", type=float, help="cosine similarity threshold (default: the model's)")
    s.add_argument(
        "--calibration",
        help="calibration.json of `reidcam calibrate` for this ReID model (its threshold is the default)",
    )
    s.add_argument(
        "--data-dir",
        type=Path,
        help="read and update the per-camera self-calibration (autocal.json) here, as `reidcam serve "
        "--data-dir` and `reidcam calibrate --auto --out` do (default: learnt during this run only)",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_run_args(s)
    s.set_defaults(func=run)


def _split_query(value: str, default_name: str) -> tuple[str, str]:
    """``NAME=IMG`` -> (NAME, IMG); an existing file, or text without a valid name, is a bare IMG."""
    if Path(value).expanduser().is_file():
        return default_name, value  # a file whose name holds '=' is still one image
    name, sep, path = value.partition("=")
    if sep and NAME_RE.match(name.strip()) and path.strip():
        return name.strip(), path.strip()
    return default_name, value


def parse_queries(values: list[str], default_name: str) -> dict[str, list[str]]:
    """Image paths per query person, people in the order first given.

    Raises:
        ConfigError: ``default_name`` is not a valid person name.
    """
    if not NAME_RE.match(default_name):
        raise ConfigError(
            f"--query-id {default_name!r}: "
            "a name is 1-64 letters, digits, '_', '.' or '-' (it names a folder)"
        )
    people: dict[str, list[str]] = {}
    for value in values:
        name, path = _split_query(value, default_name)
        people.setdefault(name, []).append(path)
    return people


def check_sources(cfg: AppConfig) -> None:
    """Fail before the models load when a source cannot be used: a search must see every camera.

    Raises:
        ConfigError: no camera at all.
        SourceError: one line per unusable source, naming the camera and why.
    """
    if not cfg.cameras:
        raise ConfigError("no cameras: give --source CAM_ID=PATH_OR_URL or list cameras in the config")
    problems = source_problems(list(cfg.cameras))
    if problems:
        raise SourceError("; ".join(problems.values()))


def _enroll_all(
    models: Models,
    sink: SearchOutputSink,
    people: dict[str, list[str]],
    images: dict[str, list[NDArray[np.uint8]]],
) -> None:
    """Save each person's query images to ``query/`` and add them to the gallery."""
    for name, paths in people.items():
        for i, (path, img) in enumerate(zip(paths, images[name], strict=True)):
            sink.save_query(name + (f"_{i}{Path(path).suffix or '.jpg'}" if i else ".jpg"), img)
        enroll(models.gallery, models.embedder, name, images[name], source=",".join(paths))


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    people = parse_queries(args.query, args.query_id)
    images = {name: [read_image(p) for p in paths] for name, paths in people.items()}
    check_sources(cfg)  # before minutes of model loading
    cameras = build_cameras(cfg)
    placement = placement_from_config(cfg)  # a missing GPU fails here, before any model loads
    embedder = build_embedder_from_config(cfg, placement=placement)
    models = build_models(cfg, embedder=embedder, data_dir=args.data_dir, placement=placement)
    out = Path(args.out)
    sink = SearchOutputSink(out, cfg.output.save_crops, cfg.output.jpeg_quality)
    if sink.replaced:
        print(f"reidcam: replacing the results of an earlier search in {out}", file=sys.stderr)
    _enroll_all(models, sink, people, images)
    progress = Progress(enabled=not args.no_progress)
    runner = Runner(cameras, models, FanOutSink([sink, progress]))
    try:
        runner.run()
    finally:
        progress.close()
        sink.close()
    summary = summarize(out)
    summary["queries"] = {name: len(paths) for name, paths in people.items()}
    summary["threshold"] = models.matcher.settings.threshold
    summary["camera_thresholds"] = {
        u.camera_id: {"threshold": (c := models.matcher.threshold_for(u.camera_id)).threshold, "why": c.why}
        for u in cameras
    }
    summary["write_errors"] = sink.write_errors
    summary["out"] = str(out)
    write_summary(out, summary)
    print(json.dumps(summary))
    return 0
