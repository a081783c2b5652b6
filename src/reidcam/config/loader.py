"""Load a YAML config: ``${ENV}`` substitution, validation, errors with the YAML line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reidcam.config.schema import AppConfig
from reidcam.core.errors import ConfigError

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute_env(value: Any, env: dict[str, str] | None = None) -> Any:
    """Replace ``${NAME}`` in every string with the environment variable NAME.

    Keeps secrets such as RTSP passwords out of the file. A missing variable is
    an error rather than an empty string, which would fail later and obscurely.
    """
    env = dict(os.environ) if env is None else env
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                raise ConfigError(f"environment variable {name} is referenced in the config but not set")
            return env[name]

        return _ENV_RE.sub(repl, value)
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    return value


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based YAML line of the node at ``loc``, or of the deepest parent found."""
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
            if found is None:
                key = next((k for k, _ in node.value if k.value == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _format_errors(exc: ValidationError, root: yaml.Node | None, origin: str) -> str:
    parts = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "<root>"
        line = _line_of(root, loc)
        where = f"{origin}:{line}" if line else origin
        parts.append(f"{where}: {key}: {err['msg']}")
    return "; ".join(parts)


def parse_config(text: str, origin: str = "<config>", env: dict[str, str] | None = None) -> AppConfig:
    """Parse YAML text into an AppConfig. Raises ConfigError with key and line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections")
    data = substitute_env(data, env)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, root, origin)) from exc


def load_config(path: str | Path | None, env: dict[str, str] | None = None) -> AppConfig:
    """Load a config file, or the defaults when ``path`` is None."""
    if path is None:
        return AppConfig()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    return parse_config(text, origin=str(p), env=env)
