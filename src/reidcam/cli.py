"""The ``reidcam`` command: search | serve | check-config | weights.

Every user-facing failure is a ``ReidcamError``: printed as one line on
stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from reidcam import __version__
from reidcam.core.errors import ReidcamError

log = logging.getLogger("reidcam")

EXIT_USAGE = 2


def _add_common_run_args(p: argparse.ArgumentParser) -> None:
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reidcam", description="Person re-identification across cameras.")
    p.add_argument("--version", action="version", version=f"reidcam {__version__}")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    sub = p.add_subparsers(dest="command", required=True)

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
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_common_run_args(s)

    c = sub.add_parser("check-config", help="validate a config file and print the resolved settings")
    c.add_argument("file")

    w = sub.add_parser("weights", help="list or fetch known model weights")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    wl = wsub.add_parser("list", help="known models and whether their files are present")
    wl.add_argument("--dir", help="weights folder to check")
    wf = wsub.add_parser("fetch", help="download weights from their official source and verify sha256")
    wf.add_argument("name")
    wf.add_argument("--dir", help="destination folder (default: the user cache)")
    wf.add_argument("--url", help="download from this address instead (checked against the same sha256)")

    return p


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    from reidcam import commands

    return {
        "search": commands.search.run,
        "check-config": commands.check_config.run,
        "weights": commands.weights.run,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        return _commands()[args.command](args)
    except ReidcamError as exc:
        print(f"reidcam: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("reidcam: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
