"""Configuration: YAML -> validated pydantic tree."""

from reidcam.config.loader import load_config, parse_config, substitute_env
from reidcam.config.schema import (
    AppConfig,
    BrokerConfig,
    BrokerTlsConfig,
    CameraConfig,
    DetectorConfig,
    MatcherConfig,
    OutputConfig,
    PerformanceConfig,
    ReidConfig,
    StorageConfig,
    TrackerConfig,
    WeightsConfig,
)

__all__ = [
    "AppConfig",
    "BrokerConfig",
    "BrokerTlsConfig",
    "CameraConfig",
    "DetectorConfig",
    "MatcherConfig",
    "OutputConfig",
    "PerformanceConfig",
    "ReidConfig",
    "StorageConfig",
    "TrackerConfig",
    "WeightsConfig",
    "load_config",
    "parse_config",
    "substitute_env",
]
