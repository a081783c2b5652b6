"""Every speed figure of the project in one JSON document: ``reidcam bench`` as a script.

Usage (the sample videos and weights come from the environment, never from hard-coded paths):

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/bench.py --cameras 2,4 --out bench.json

All options are those of ``reidcam bench --help``. It reports and never fails on a figure.
"""

from __future__ import annotations

import sys

from reidcam.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
