"""Per-camera label-free calibration in the API: the estimate, the threshold that applies, the warning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from fastapi.testclient import TestClient
from web_support import fake_config

from reidcam.match import Matcher, MatcherSettings
from reidcam.match.autocal import AutocalSettings, SeparationEstimator
from reidcam.testing.models import fake_models
from reidcam.web import Services, create_app


def _estimator(cameras: list[str]) -> SeparationEstimator:
    rng = np.random.default_rng(0)
    est = SeparationEstimator(
        "fake-colour-v1", AutocalSettings(min_negative_pairs=300, min_positive_pairs=30)
    )
    easy, hard = cameras[0], cameras[1]
    est.add_pairs(
        easy, np.clip(rng.normal(0.45, 0.1, 1000), -1, 1), np.clip(rng.normal(0.9, 0.03, 100), -1, 1)
    )
    est.add_pairs(
        hard, np.clip(rng.normal(0.85, 0.05, 1000), -1, 1), np.clip(rng.normal(0.86, 0.05, 100), -1, 1)
    )
    return est


def test_each_camera_says_its_threshold_why_and_warns_where_people_look_alike(
    make_services: Callable[..., Services],
) -> None:
    cfg = fake_config()
    ids = [c.id for c in cfg.cameras]
    assert len(ids) >= 2
    models = fake_models()
    matcher = Matcher(MatcherSettings(0.6), _estimator(ids), model_default=0.6)
    services = make_services(models=replace(models, matcher=matcher))
    with TestClient(create_app(cfg, services)) as client:
        body = {c["camera_id"]: c for c in client.get("/api/calibration/cameras").json()}
        easy, hard = body[ids[0]], body[ids[1]]
        assert easy["enough"] and easy["separable"] and easy["warning"] is None
        assert easy["threshold_in_use"] == easy["threshold"] > 0.6  # the camera's, stricter than the user's
        assert "keeps the estimated false-match rate at 1 %" in easy["why"]
        assert easy["current"]["threshold"] == 0.6 and easy["current"]["fmr"] > 0.0 and easy["curve"]
        assert hard["enough"] and not hard["separable"]
        assert hard["warning"].startswith("people are hard to tell apart here: ")
        for other in ids[2:]:
            assert body[other]["enough"] is False and "too little evidence yet" in body[other]["why"]
        client.put("/api/threshold", json={"threshold": 0.95})
        strict = {c["camera_id"]: c for c in client.get("/api/calibration/cameras").json()}[ids[0]]
        assert strict["threshold_in_use"] == 0.95 and "is stricter" in strict["why"]


def test_self_calibration_off_reports_the_configured_threshold(client: TestClient) -> None:
    rows = client.get("/api/calibration/cameras").json()
    assert rows and all(r["self_calibrating"] is False for r in rows)
    assert all("self-calibration off" in r["why"] for r in rows)
