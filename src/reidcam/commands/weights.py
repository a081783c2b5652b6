"""``reidcam weights list|fetch``: what is known, what is present, explicit downloads."""

from __future__ import annotations

import argparse
from pathlib import Path

from reidcam.reid.weights import WeightsStatus, default_cache_dir, fetch_weights, list_weights


def _row(st: WeightsStatus) -> str:
    if st.verified:
        state = f"ok       {st.path}"
    elif st.present:
        state = f"BAD      {st.path}: {st.error}"
    else:
        state = "missing  " + (
            "(reidcam weights fetch " + st.name + ")" if st.downloadable else "(local only)"
        )
    return f"{st.name:<40} {st.kind:<9} {state}"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("weights", help="list or fetch known model weights")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    wl = wsub.add_parser("list", help="known models and whether their files are present")
    wl.add_argument("--dir", help="weights folder to check")
    wf = wsub.add_parser("fetch", help="download weights from their official source and verify sha256")
    wf.add_argument("name")
    wf.add_argument("--dir", help="destination folder (default: the user cache)")
    wf.add_argument("--url", help="download from this address instead (checked against the same sha256)")
    w.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.weights_command == "list":
        for st in list_weights(Path(args.dir) if args.dir else None):
            print(_row(st))
        return 0
    dest = Path(args.dir) if args.dir else default_cache_dir()
    path = fetch_weights(args.name, dest, url_override=args.url)
    print(f"{args.name}: {path} (sha256 verified)")
    return 0
