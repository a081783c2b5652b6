"""The identity memory's join rule, old (nearest member) vs new (quorum), on the two sample videos.

Runs vtest.avi and people-detection.264 as two looping cameras the way ``reidcam serve`` plays
file cameras (paced, newest frame only, wall-clock times), for ``--seconds``, collecting every
closed sighting. The very same sightings, in the same order, are then placed by two fresh
memories: the old rule (``quorum 0``: joins through the single nearest member, at the model's
match threshold) and the new default (``settings_from_config``: majority quorum at the
stricter join threshold), plus the two halves of the change alone (only the stricter threshold,
only the quorum). ``--sightings FILE`` keeps the collected sightings (a pickle) and, when the file
exists, places those instead of running the cameras again. The two videos show different
people, so an identity with sightings of both cameras is a wrong merge; so is one with two
sightings seen at the same time on one camera. Prints one JSON document.

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/identity_rule.py --seconds 300 \
        --sightings /tmp/two_videos_300s.pkl
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from reidcam.config import AppConfig
from reidcam.core.events import NullSink
from reidcam.core.types import Sighting
from reidcam.identity import IdentityMemory
from reidcam.identity.audit import audit
from reidcam.identity.setup import match_threshold, settings_from_config
from reidcam.pipeline.build import build_models
from reidcam.pipeline.replay import replay_cameras
from reidcam.pipeline.runner import Runner


class Collect(NullSink):
    def __init__(self) -> None:
        self.sightings: list[Sighting] = []
        self._lock = threading.Lock()

    def on_sighting_closed(self, sighting: Sighting) -> None:
        if sighting.prototype is not None:
            with self._lock:
                self.sightings.append(sighting)


def config(media: Path, weights: Path, calibration: Path | None) -> AppConfig:
    return AppConfig.model_validate(
        {
            "cameras": [
                {"id": "vtest", "source": str(media / "vtest.avi")},
                {"id": "ceiling", "source": str(media / "people-detection.264")},
            ],
            "weights": {"dir": str(weights)},
            "matcher": {"calibration": None if calibration is None else str(calibration)},
        }
    )


def run_cameras(cfg: AppConfig, seconds: float, fps: float) -> list[Sighting]:
    sink = Collect()
    runner = Runner(replay_cameras(cfg, fps, loop=True), build_models(cfg), sink)
    runner.start()
    time.sleep(seconds)
    runner.stop(timeout_s=60.0)
    return sink.sightings


def place_all(sightings: list[Sighting], settings: object, folder: Path) -> dict[str, object]:
    with IdentityMemory.open(folder, settings=settings) as memory:  # type: ignore[arg-type]
        for s in sightings:
            memory.record_sighting(replace(s, best_crop=None))
        with memory.engine.connect() as conn:
            a = audit(conn)
    both = a.spanning({"vtest", "ceiling"})
    return {
        "threshold": settings.threshold,  # type: ignore[attr-defined]
        "quorum": settings.quorum,  # type: ignore[attr-defined]
        "identities": a.identities,
        "sightings": a.sightings,
        "identities_with_both_videos": len(both),
        "sightings_in_those": sum(a.sizes[i] for i in both),
        "overlapping_pairs_in_one_identity": len(a.overlaps),
        "identities_with_overlaps": len({o[0] for o in a.overlaps}),
        "largest_identity_sightings": max(a.sizes.values(), default=0),
        "identities_with_2_or_more_sightings": sum(1 for n in a.sizes.values() if n >= 2),
    }


def shuffled_orders(
    sightings: list[Sighting], settings: object, folder: Path, n: int, seed: int = 0
) -> dict[str, object]:
    """The same sightings placed in ``n`` random orders (seeded): how many orders end with an
    identity holding both videos. The rule's decisions depend on the order sightings close in."""
    rng = np.random.default_rng(seed)
    merged, sizes = 0, []
    for k in range(n):
        order = [sightings[i] for i in rng.permutation(len(sightings))]
        got = place_all(order, settings, folder / f"order{k}")
        merged += int(got["identities_with_both_videos"] > 0)  # type: ignore[operator]
        sizes.append(got["sightings_in_those"])
    return {"orders": n, "orders_with_a_cross_video_identity": merged, "sightings_in_those": sizes}


def components(linked: np.ndarray) -> list[np.ndarray]:
    """Connected components of a symmetric boolean adjacency matrix (index arrays)."""
    seen = np.zeros(len(linked), bool)
    out = []
    for start in range(len(linked)):
        if seen[start]:
            continue
        members, frontier = {start}, [start]
        while frontier:
            nxt = np.flatnonzero(linked[frontier].any(axis=0) & ~seen)
            nxt = [int(i) for i in nxt if i not in members]
            members.update(nxt)
            seen[list(members)] = True
            frontier = nxt
        out.append(np.array(sorted(members)))
    return out


def chain_potential(sightings: list[Sighting], thresholds: tuple[float, ...]) -> dict[str, object]:
    """Order-free figures: how often a vtest and a ceiling sighting (always two people) score at or
    above each threshold, and the largest group the nearest-member rule could chain together
    (single linkage: every sighting linked to any one at or above the threshold)."""
    vecs = np.stack([np.asarray(s.prototype, np.float32) for s in sightings])
    cams = np.array([s.key.camera_id for s in sightings])
    cross = vecs[cams == "vtest"] @ vecs[cams == "ceiling"].T
    sims = vecs @ vecs.T
    out: dict[str, object] = {"max_cross_video_similarity": round(float(cross.max(initial=-1.0)), 3)}
    for t in thresholds:
        parts = components(sims >= t)
        mixed = [len(c) for c in parts if len(set(cams[c])) == 2]
        out[f"at_{t:g}"] = {
            "cross_video_pair_rate": float(np.mean(cross >= t)) if cross.size else 0.0,
            "single_linkage_groups": len(parts),
            "groups_with_both_videos": len(mixed),
            "sightings_in_those": int(sum(mixed)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--fps", type=float, default=10.0, help="pace of each file camera")
    parser.add_argument(
        "--sightings", type=Path, help="pickle of the collected sightings (read if it exists)"
    )
    parser.add_argument(
        "--calibration", type=Path, help="matcher.calibration: the new rule's join threshold for 0.1 %% FMR"
    )
    parser.add_argument("--shuffles", type=int, default=0, help="also place the sightings in N random orders")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    media, weights = Path(os.environ["REIDCAM_MEDIA_DIR"]), Path(os.environ["REIDCAM_WEIGHTS_DIR"])
    cfg = config(media, weights, args.calibration)
    t0 = time.monotonic()
    sightings = load_or_run(cfg, args)
    new = settings_from_config(cfg)
    rules = {
        "old_rule": replace(new, threshold=match_threshold(cfg), quorum=0.0),
        "only_stricter_threshold": replace(new, quorum=0.0),
        "only_quorum": replace(new, threshold=match_threshold(cfg)),
        "new_rule": new,
    }
    cams = ("vtest", "ceiling")
    result: dict[str, object] = {
        "seconds": args.seconds,
        "fps": args.fps,
        "wall_s": round(time.monotonic() - t0, 1),
        "sightings_per_camera": {c: sum(s.key.camera_id == c for s in sightings) for c in cams},
    }
    thresholds = tuple(sorted({r.threshold for r in rules.values()}))
    result["chain_potential"] = chain_potential(sightings, thresholds)
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in rules.items():
            result[name] = place_all(sightings, settings, Path(tmp) / name)
            if args.shuffles:
                result[name]["shuffled"] = shuffled_orders(  # type: ignore[index]
                    sightings, settings, Path(tmp) / f"{name}_shuffled", args.shuffles
                )
    print(json.dumps(result, indent=1))


def load_or_run(cfg: AppConfig, args: argparse.Namespace) -> list[Sighting]:
    path: Path | None = args.sightings
    if path is not None and path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)  # a file this script wrote
    sightings = [replace(s, best_crop=None) for s in run_cameras(cfg, args.seconds, args.fps)]
    if path is not None:
        with path.open("wb") as f:
            pickle.dump(sightings, f)
    return sightings


if __name__ == "__main__":
    main()
