"""The threshold slider tells what a threshold means: the calibration of the running model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from web_support import fake_config

from reidcam.config import AppConfig
from reidcam.core.errors import ConfigError
from reidcam.match.calibration import Calibration, PairScores, calibrate, save_calibration
from reidcam.pipeline.build import configured_calibration, matcher_settings
from reidcam.testing.models import fake_models
from reidcam.web import Services, create_app


def _calibration(model_id: str = "fake-colour-v1") -> Calibration:
    rng = np.random.default_rng(0)
    same = np.clip(rng.normal(0.8, 0.08, 2000), -1, 1).astype(np.float32)
    different = np.clip(rng.normal(0.3, 0.12, 20000), -1, 1).astype(np.float32)
    return calibrate(PairScores(same, different), model_id, target_fmr=0.01, data="synthetic")


def test_without_a_calibration_the_api_says_so(client: TestClient) -> None:
    body = client.get("/api/calibration").json()
    assert body["calibrated"] is False and body["curve"] == []
    th = client.get("/api/threshold").json()
    assert th["fmr"] is None and th["tpr"] is None


def test_the_calibration_and_the_rates_at_the_threshold_in_use(
    make_services: Callable[..., Services],
) -> None:
    cal = _calibration()
    services = make_services(models=replace(fake_models(), calibration=cal))
    with TestClient(create_app(fake_config(), services)) as client:
        body = client.get("/api/calibration").json()
        assert body["calibrated"] is True and body["model_id"] == "fake-colour-v1"
        assert body["threshold"] == pytest.approx(cal.threshold)
        assert body["fmr"] <= 0.01 and body["tpr"] > 0.9
        assert len(body["histogram"]["edges"]) == len(body["histogram"]["same"]) + 1
        assert sum(body["histogram"]["different"]) == cal.num_different
        # the fake models run at 0.8: far fewer false matches than at the calibrated point
        assert body["current"]["threshold"] == pytest.approx(0.8)
        assert body["current"]["fmr"] < body["fmr"]

        low = client.put("/api/threshold", json={"threshold": 0.4}).json()
        high = client.put("/api/threshold", json={"threshold": 0.7}).json()
        assert low["fmr"] > high["fmr"] and low["tpr"] >= high["tpr"]
        assert (low["fmr"], low["tpr"]) == cal.rates_at(0.4)
        assert client.get("/api/calibration").json()["current"]["threshold"] == pytest.approx(0.7)


def test_a_configured_calibration_sets_the_threshold_and_the_uncertain_band(tmp_path: Path) -> None:
    cal = _calibration("osnet_x0_25_msmt17")
    save_calibration(cal, tmp_path)
    cfg = AppConfig.model_validate({"matcher": {"calibration": str(tmp_path)}})
    loaded = configured_calibration(cfg, "osnet_x0_25_msmt17")
    assert loaded is not None and loaded.threshold == cal.threshold
    s = matcher_settings(cfg, loaded)
    assert s.threshold == cal.threshold
    assert s.uncertain_band == pytest.approx(cal.threshold - cal.uncertain_below, abs=1e-4)
    assert s.uncertain_band > 0
    # an explicit setting still wins
    explicit = AppConfig.model_validate({"matcher": {"threshold": 0.5, "uncertain_band": 0.02}})
    s2 = matcher_settings(explicit, loaded)
    assert (s2.threshold, s2.uncertain_band) == (0.5, 0.02)
    # no calibration: the model's recommended threshold and the default band
    plain = matcher_settings(AppConfig())
    assert plain.uncertain_band == 0.05 and plain.threshold != cal.threshold


def test_a_calibration_of_another_model_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    save_calibration(_calibration("resnet50_market"), tmp_path)
    cfg = AppConfig.model_validate({"matcher": {"calibration": str(tmp_path / "calibration.json")}})
    with pytest.raises(ConfigError, match="resnet50_market"):
        configured_calibration(cfg, "osnet_x0_25_msmt17")
    missing = AppConfig.model_validate({"matcher": {"calibration": str(tmp_path / "nope")}})
    with pytest.raises(ConfigError, match="reidcam calibrate"):
        configured_calibration(missing, "osnet_x0_25_msmt17")
    assert configured_calibration(AppConfig(), "osnet_x0_25_msmt17") is None
