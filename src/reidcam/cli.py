"""The ``reidcam`` command; each sub-command lives in ``reidcam.commands``.

Every user-facing failure is a ``ReidcamError``: printed as one line on
stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from reidcam import __version__, commands
from reidcam.core.errors import ReidcamError

log = logging.getLogger("reidcam")

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reidcam", description="Person re-identification across cameras.")
    p.add_argument("--version", action="version", version=f"reidcam {__version__}")
    p.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    sub = p.add_subparsers(dest="command", required=True)

    for module in commands.ALL:
        module.register(sub)
    return p


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        code: int = args.func(args)
        return code
    except ReidcamError as exc:
        print(f"reidcam: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("reidcam: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
