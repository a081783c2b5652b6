import pytest

from reidcam.config import load_config, parse_config
from reidcam.core.errors import ConfigError

GOOD = """
cameras:
  - id: front
    source: 0
  - id: yard
    source: rtsp://admin:${CAM_PASS}@127.0.0.1/stream
matcher:
  threshold: 0.7
"""


def test_defaults_without_file():
    cfg = load_config(None)
    assert cfg.cameras == [] and cfg.reid.model == "person-reidentification-retail-0288"


def test_env_substitution_and_values():
    cfg = parse_config(GOOD, env={"CAM_PASS": "s3cret"})
    assert cfg.cameras[1].source == "rtsp://admin:s3cret@127.0.0.1/stream"
    assert cfg.matcher.threshold == 0.7


def test_missing_env_var_is_named():
    with pytest.raises(ConfigError, match="CAM_PASS"):
        parse_config(GOOD, env={})


def test_unknown_key_reports_key_and_line():
    text = "cameras:\n  - id: a\n    source: 0\ndetector:\n  confidense: 0.3\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, origin="cfg.yaml")
    msg = str(err.value)
    assert "detector.confidense" in msg and "cfg.yaml:5" in msg


def test_bad_value_in_list_reports_index_and_line():
    text = "cameras:\n  - id: a\n    source: 0\n  - id: 'bad id!'\n    source: 1\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, origin="c.yaml")
    assert "cameras.1.id" in str(err.value) and "c.yaml:4" in str(err.value)


def test_duplicate_camera_ids_rejected():
    with pytest.raises(ConfigError, match="duplicate camera id"):
        parse_config("cameras:\n  - {id: a, source: 0}\n  - {id: a, source: 1}\n")


def test_not_yaml_and_not_mapping():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("cameras: [\n")
    with pytest.raises(ConfigError, match="mapping"):
        parse_config("- 1\n- 2\n")


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_example_config_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "config.yaml"
    cfg = load_config(example, env={"YARD_CAM_PASSWORD": "x"})
    assert [c.id for c in cfg.cameras] == ["entrance", "yard", "archive", "snapshots"]
    assert cfg.cameras[2].enabled is False
