"""People who are not in a video get no "match" at the defaults (the real pipeline and models).

Bounded: 120 frames per video camera, the MOT17-mini frames on disk; about 30-60 s on 2 cores.
The full-length figures are in docs/accuracy.md (``benchmarks/absent_people.py --frames 300``).
"""

from __future__ import annotations

import pytest

from reidcam.config import AppConfig, WeightsConfig
from reidcam.eval.absent import default_cases, run_case
from reidcam.pipeline.build import build_models

FRAMES = 120


@pytest.fixture(scope="module")
def results(weights_dir, media_dir):
    for name in ("vtest.avi", "people-detection.264", "market1501_2cam/query", "MOT17-mini"):
        if not (media_dir / name).exists():
            pytest.skip(f"{name} is not in {media_dir}")
    cfg = AppConfig(weights=WeightsConfig(dir=weights_dir))
    models = build_models(cfg)
    cases = default_cases(models, media_dir)
    return {case.name: run_case(cfg, models, case, FRAMES) for case in cases}


@pytest.mark.parametrize("case", ["vtest-person", "market-queries", "mot-other-sequences"])
def test_absent_people_are_never_matched(results, case):
    r = results[case]
    assert r.queries > 0, f"{case}: no query crops were found"
    assert r.scored > 20, f"{case}: only {r.scored} detections were scored, too few to mean anything"
    assert r.false_matches == 0 and r.matched_sightings == 0, r.as_dict()
