"""``identity:`` and ``cameras[].neighbours`` in the YAML config: defaults, the join threshold, errors."""

from __future__ import annotations

import json

import pytest

from reidcam.config.loader import parse_config
from reidcam.core.errors import ConfigError
from reidcam.identity.setup import identity_threshold, settings_from_config
from reidcam.reid.registry import REGISTRY

TWO_CAMERAS = """\
cameras:
  - id: door
    source: a.mp4
    neighbours:
      - camera: hall
        min_transit_s: 5
        max_transit_s: 120
  - id: hall
    source: b.mp4
"""


def test_neighbours_become_a_two_way_topology():
    cfg = parse_config(TWO_CAMERAS)
    topo = settings_from_config(cfg).topology
    assert topo is not None and topo.least_transit_s("hall", "door") == 5.0
    assert settings_from_config(parse_config("cameras: []")).topology is None, "no topology: no constraint"


def test_an_unknown_neighbour_is_an_error_with_its_yaml_line():
    text = TWO_CAMERAS.replace("camera: hall", "camera: hal")
    with pytest.raises(ConfigError) as err:
        parse_config(text, origin="site.yaml")
    msg = str(err.value)
    assert msg.startswith("site.yaml:5: cameras.0.neighbours.0.camera:"), msg
    assert "unknown neighbour 'hal'" in msg and "the configured cameras are door, hall" in msg


def test_a_camera_cannot_be_its_own_neighbour_nor_arrive_before_it_leaves():
    with pytest.raises(ConfigError, match="lists itself as its neighbour"):
        parse_config(TWO_CAMERAS.replace("camera: hall", "camera: door"))
    with pytest.raises(ConfigError, match=r"site.yaml:5: .*max_transit_s 1.0 is below min_transit_s 5.0"):
        parse_config(TWO_CAMERAS.replace("max_transit_s: 120", "max_transit_s: 1"), origin="site.yaml")
    with pytest.raises(ConfigError, match="min_transit_s"):
        parse_config(TWO_CAMERAS.replace("min_transit_s: 5", "min_transit_s: -1"))


def test_the_join_threshold_explicit_else_calibrated_else_the_match_threshold_plus_extra(tmp_path):
    default = identity_threshold(parse_config(""))
    model_threshold = REGISTRY[parse_config("").reid.model].threshold
    assert default.value == pytest.approx(model_threshold + 0.1) and "no calibrated curve" in default.source
    assert identity_threshold(parse_config("identity: {uncalibrated_extra: 0.2}")).value == pytest.approx(
        model_threshold + 0.2
    )
    assert identity_threshold(parse_config("storage: {identity_threshold: 0.6}")).value == 0.6
    cal = {"model_id": "osnet_x0_25_msmt17", "threshold": 0.7, "num_different": 5000, "curve": _curve(0.85)}
    (tmp_path / "calibration.json").write_text(json.dumps(cal | _filler()))
    got = identity_threshold(
        parse_config(f"reid: {{model: osnet_x0_25_msmt17}}\nmatcher: {{calibration: {tmp_path}}}")
    )
    assert got.value == pytest.approx(0.85) and "calibration at FMR 0.001" in got.source
    (tmp_path / "calibration.json").write_text(json.dumps(cal | _filler() | {"curve": _curve(0.5)}))
    low = identity_threshold(
        parse_config(f"reid: {{model: osnet_x0_25_msmt17}}\nmatcher: {{calibration: {tmp_path}}}")
    )
    assert low.value == pytest.approx(0.65), "never below the single-match threshold"
    few = cal | {"num_different": 500}  # 1 false match in 500 pairs cannot resolve 0.1 %
    (tmp_path / "calibration.json").write_text(json.dumps(few | _filler()))
    assert identity_threshold(
        parse_config(f"reid: {{model: osnet_x0_25_msmt17}}\nmatcher: {{calibration: {tmp_path}}}")
    ).value == pytest.approx(0.75)
    other = cal | {"model_id": "another-model"}
    (tmp_path / "calibration.json").write_text(json.dumps(other | _filler()))
    assert identity_threshold(
        parse_config(f"reid: {{model: osnet_x0_25_msmt17}}\nmatcher: {{calibration: {tmp_path}}}")
    ).value == pytest.approx(0.75), "a calibration of another model is not used"
    with pytest.raises(ConfigError, match=r"identity\.target_fmr"):
        parse_config("identity: {target_fmr: 0}")
    with pytest.raises(ConfigError, match=r"identity\.bogus"):
        parse_config("identity: {bogus: 1}")


def _curve(at: float) -> list[list[float]]:
    """A (threshold, FMR, TPR) grid whose FMR first reaches 0.1 % at ``at``."""
    grid = [round(-1 + 0.01 * i, 2) for i in range(201)]
    return [[t, 0.5 if t < at - 0.1 else 0.01 if t < at - 1e-9 else 0.0005, 0.9] for t in grid]


def _filler() -> dict[str, object]:
    return {
        "target_fmr": 0.01,
        "fmr": 0.01,
        "tpr": 0.9,
        "uncertain_below": 0.6,
        "num_same": 100,
        "num_images": 100,
        "num_identities": 10,
        "same_mean": 0.8,
        "different_mean": 0.3,
        "histogram": {},
    }
