"""False matches of people who are not there: old fixed threshold vs the self-calibrated one.

Plays two (or more) cameras whose people are disjoint (for example the two sample videos)
through the product pipeline once. Every long sighting (>= 4 embedded crops, a person a user
would pick) of one camera becomes, in turn, the only query; every sighting of each *other*
camera is judged against it. Since nobody appears on two of these cameras, every "match" is
false. Judged twice with the same prototypes: the fixed threshold with self-calibration off,
and the self-calibrating matcher with the label-free per-camera estimate of the same run.

    python benchmarks/absent_queries.py --source vtest=$M/vtest.avi --source room=$M/people-detection.264

Prints figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from reidcam.config import AppConfig
from reidcam.core.types import Embeddings, Sighting
from reidcam.match import Gallery, Matcher, MatcherSettings
from reidcam.match.threshold_rule import pct
from reidcam.pipeline.autocal_run import gather
from reidcam.pipeline.build import model_threshold

MIN_QUERY_EMBEDDINGS = 4


def _verdicts(
    matcher: Matcher, queries: list[Sighting], probes: list[Sighting], model_id: str, camera: str
) -> Counter[str]:
    out: Counter[str] = Counter()
    for q in queries:
        g = Gallery()
        g.add("q", Embeddings(q.prototype.reshape(1, -1), model_id))  # type: ignore[union-attr]
        for p in probes:
            out[matcher.decide(p.prototype, model_id, g, camera).verdict.value] += 1  # type: ignore[arg-type]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", action="append", required=True, metavar="CAM=PATH")
    ap.add_argument("--threshold", type=float, default=0.65, help="the old fixed threshold (0.65)")
    ap.add_argument(
        "--min-pairs",
        type=int,
        nargs=2,
        metavar=("NEG", "POS"),
        help="evidence minimums (default: the product's)",
    )
    args = ap.parse_args()
    cams = [dict(zip(("id", "source"), s.split("=", 1), strict=True)) for s in args.source]
    keys = ("min_negative_pairs", "min_positive_pairs")
    matcher = {} if args.min_pairs is None else dict(zip(keys, args.min_pairs, strict=True))
    weights = {"dir": os.environ.get("REIDCAM_WEIGHTS_DIR")}
    cfg = AppConfig.model_validate({"cameras": cams, "weights": weights, "matcher": matcher})
    est, log = gather(cfg)
    by_cam = {
        c["id"]: [s for s in log.sightings if s.key.camera_id == c["id"] and s.prototype is not None]
        for c in cams
    }
    fixed = Matcher(MatcherSettings(args.threshold))
    selfcal = Matcher(MatcherSettings(args.threshold), est, model_threshold(cfg))
    print(
        "| queries from | judged on | decisions | 'match' at fixed | 'match' self-calibrated "
        "| uncertain self-cal. | threshold there | estimate there |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for a in by_cam:
        queries = [s for s in by_cam[a] if s.n_embeddings >= MIN_QUERY_EMBEDDINGS]
        for b in by_cam:
            if a == b:
                continue
            old = _verdicts(fixed, queries, by_cam[b], est.model_id, b)
            new = _verdicts(selfcal, queries, by_cam[b], est.model_id, b)
            e, choice = est.estimate(b), selfcal.threshold_for(b)
            fmr, tmr = e.rates_at(choice.threshold)
            n = sum(old.values())
            what = f"{e.num_negative} / {e.num_positive} pairs, FMR {pct(fmr or 0)} TMR {pct(tmr or 0)}" + (
                "" if e.enough else " (too little evidence: model default)"
            )
            print(
                f"| {a} ({len(queries)}) | {b} ({len(by_cam[b])}) | {n} | {old['match']} | {new['match']} "
                f"| {new['uncertain']} | {choice.threshold:.3f} | {what} |"
            )
    print(f"ReID {est.model_id}; fixed threshold {args.threshold}; target FMR {pct(est.settings.target_fmr)}")


if __name__ == "__main__":
    main()
