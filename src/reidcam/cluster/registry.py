"""Entries of the distributed mode's camera registry, checked before they are written.

Workers lease what the registry holds, so an entry is checked as a worker will build it; and
since every client of the broker can read the registry, a source with a password written in it
is refused: a secret goes in as a ``${ENV}`` reference, expanded on the worker. Used by
``reidcam cameras add`` and by the page's camera form in the distributed mode.
"""

from __future__ import annotations

import re

from reidcam.capture.urls import redact_url
from reidcam.cluster.worker import registry_camera
from reidcam.core.errors import ConfigError

ENV_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def registry_entry(camera_id: str, settings: dict[str, object]) -> dict[str, object]:
    """The registry value of a camera (``settings``: a ``cameras[]`` entry without its id).

    Raises:
        ConfigError: a password written into the source, or an entry a worker would refuse.
    """
    value = {k: v for k, v in settings.items() if k != "id" and v is not None}
    source = value.get("source")
    if isinstance(source, str):
        literal = ENV_REF.sub("***", source)  # a ${ENV} reference is what we ask for: as if redacted
        if redact_url(literal) != literal:
            raise ConfigError(
                f"camera {camera_id!r}: the source holds a password; every broker client can read the "
                "registry, so write it as a reference the worker expands, e.g. "
                "rtsp://viewer:${CAM_PW}@host/x"
            )
    # Checked as a worker reads it, with each ${ENV} standing for a value only the worker has.
    stand_in = ENV_REF.sub("set-on-the-worker", source) if isinstance(source, str) else source
    checked = {**value, "source": stand_in}
    try:
        registry_camera(camera_id, checked)
    except Exception as exc:
        raise ConfigError(str(exc)) from exc
    return value
