"""``reidcam check-config FILE``: validate and show the effective settings."""

from __future__ import annotations

import argparse
import json

from reidcam.capture.urls import redact_url
from reidcam.config import load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("check-config", help="validate a config file and print the resolved settings")
    c.add_argument("file")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.file)
    data = cfg.model_dump(mode="json")
    for cam in data["cameras"]:
        if isinstance(cam["source"], str):
            cam["source"] = redact_url(cam["source"])
    print(json.dumps(data, indent=2))
    print(f"{args.file}: OK ({len(cfg.cameras)} camera(s))")
    return 0
