"""Keep the per-camera estimates in the data directory (``autocal.json``) across restarts.

The file is written atomically (a temporary file renamed over it), so a crash leaves the
old one. Reading never stops the server: a corrupt file is reported in the log and ignored;
a file of another ReID model is refused with a message saying so (its similarities mean
nothing for this model) and moved aside, not overwritten; a camera whose saved source is not
the configured one (same id, another camera) starts again from nothing, also with a message.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from reidcam.match.autocal import AutocalSettings, SeparationEstimator

log = logging.getLogger(__name__)

AUTOCAL_FILE = "autocal.json"
FORMAT = "reidcam-autocal-1"


class AutocalMismatch(ValueError):
    """A saved estimate belongs to another ReID model or another camera."""


def autocal_path(data_dir: Path) -> Path:
    return Path(data_dir) / AUTOCAL_FILE


def to_dict(est: SeparationEstimator) -> dict[str, Any]:
    cams = {}
    for cid in est.camera_ids():
        s = est.scores(cid)
        cams[cid] = {
            "source": est.source_of(cid),
            "negatives": [round(float(x), 4) for x in s.different],
            "positives": [round(float(x), 4) for x in s.same],
        }
    return {"format": FORMAT, "model_id": est.model_id, "saved_at": round(time.time(), 3), "cameras": cams}


def save_estimator(est: SeparationEstimator, path: Path) -> Path:
    """Write atomically (temporary file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".autocal-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(to_dict(est), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def from_dict(
    data: dict[str, Any],
    model_id: str,
    settings: AutocalSettings,
    sources: dict[str, str] | None = None,
) -> tuple[SeparationEstimator, list[str]]:
    """An estimator holding the saved pairs, and a message per camera refused.

    ``sources``: the configured cameras (id -> source); a saved camera whose source differs
    is refused. None takes every saved camera as it is.

    Raises:
        AutocalMismatch: the file is of another model.
        ValueError, TypeError, KeyError: the file is not an autocal file.
    """
    if data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file (format {data.get('format')!r})")
    saved_model = data["model_id"]
    if saved_model != model_id:
        raise AutocalMismatch(
            f"the saved per-camera calibration is for ReID model {saved_model!r}, but the model in use "
            f"is {model_id!r}: its similarities mean nothing for this model, so it is not used"
        )
    est = SeparationEstimator(model_id, settings, sources)
    refused = []
    for cid, cam in data["cameras"].items():
        saved_source = str(cam.get("source", ""))
        if sources is not None and cid in sources and saved_source and saved_source != sources[cid]:
            refused.append(
                f"camera {cid}: the saved calibration was made on source {saved_source!r}, the camera "
                f"is now {sources[cid]!r}; starting its calibration again"
            )
            continue
        est.add_pairs(cid, cam["negatives"], cam["positives"], saved_source)
    return est, refused


def load_estimator(
    path: Path, model_id: str, settings: AutocalSettings, sources: dict[str, str] | None = None
) -> SeparationEstimator:
    """The saved estimator at ``path``, or a fresh one when it is absent, corrupt or refused.

    Never raises for the file's content: problems are logged (warning) and a refused file of
    another model is renamed to ``autocal.json.refused`` so its data is not lost.
    """
    fresh = SeparationEstimator(model_id, settings, sources)
    if not path.is_file():
        return fresh
    try:
        est, refused = from_dict(json.loads(path.read_text(encoding="utf-8")), model_id, settings, sources)
    except AutocalMismatch as exc:
        aside = path.with_name(path.name + ".refused")
        log.warning("%s: %s (moved to %s)", path, exc, aside.name)
        os.replace(path, aside)
        return fresh
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("ignoring corrupt per-camera calibration %s: %s", path, exc)
        return fresh
    for message in refused:
        log.warning("%s: %s", path, message)
    return est
