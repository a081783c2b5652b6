"""The ``reidcam search`` output folder, in the layout of the product brief.

``query/`` the query images, ``query_images/`` every person crop,
``match_detections/<person>/`` crops matched to that query person,
``uncertain_detections/`` close calls (near the threshold, or too close to a second person),
``detections/`` the rest, ``matches.jsonl`` one JSON line per detection and ``summary.json``
the counts. A rerun into the same folder replaces all of these, so they always describe one run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.events import FrameResult, Observation
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting, Verdict
from reidcam.storage.crop_store import CropStore
from reidcam.storage.db import StorageError

log = logging.getLogger(__name__)

FOLDERS = ("query", "query_images", "match_detections", "uncertain_detections", "detections")
RESULT_FILES = ("matches.jsonl", "summary.json")


def clear_previous_run(out_dir: Path) -> bool:
    """Remove what an earlier search wrote to ``out_dir``; True if there was one.

    Only this module's own folders and files go, and only when ``matches.jsonl`` marks the
    folder as a search output: any other file the user keeps there stays.

    Raises:
        StorageError: the folder holds one of these folders but is no search output (no
            matches.jsonl), or they cannot be removed.
    """
    out_dir = Path(out_dir)
    ours = [out_dir / n for n in FOLDERS if (out_dir / n).exists()]
    if not (out_dir / "matches.jsonl").exists():
        if any(p.is_dir() and any(p.iterdir()) for p in ours):
            raise StorageError(
                f"{out_dir} holds folders named like a search output but no matches.jsonl: "
                "it is not a reidcam search output; give another --out"
            )
        return False
    try:
        for path in ours:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        for name in RESULT_FILES:
            (out_dir / name).unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot replace the earlier results in {out_dir}: {exc}") from exc
    return True


def crop_folder(obs: Observation) -> str:
    """Where an observation's crop goes: its person's match folder, uncertain, or the rest."""
    d = obs.decision
    if obs.matched and d is not None and d.query_id is not None:
        return f"match_detections/{d.query_id}"
    if d is not None and d.verdict is Verdict.UNCERTAIN:
        return "uncertain_detections"
    return "detections"


def _crop_name(result: FrameResult, obs: Observation) -> str:
    f = result.frame
    track = f"_t{obs.track_id}" if obs.track_id is not None else ""
    return f"{f.camera_id}_f{f.index:06d}_d{obs.detection_index:02d}{track}.jpg"


def observation_record(
    result: FrameResult, obs: Observation, crop_path: str | None, sorted_path: str | None = None
) -> dict[str, Any]:
    """The JSON line for one detection (similarity to the best query, null if not embedded).

    ``query_id`` is the person it was matched to (or, when not matched, the closest one);
    ``crop`` the copy in ``query_images/``, ``sorted_crop`` the copy in its verdict's folder.
    """
    d = obs.decision
    return {
        "camera_id": result.frame.camera_id,
        "frame": {"index": result.frame.index, "name": result.frame.name},
        "captured_at": round(result.frame.captured_at, 3),
        "xyxy": [round(float(v), 1) for v in obs.xyxy],
        "confidence": round(obs.confidence, 4),
        "track_id": obs.track_id,
        "similarity": None if d is None else round(d.similarity, 4),
        "matched": obs.matched,
        "verdict": None if d is None else d.verdict.value,
        "query_id": None if d is None else d.query_id,
        "runner_up_id": None if d is None else d.runner_up_id,
        "runner_up_similarity": None
        if d is None or d.runner_up_similarity is None
        else round(d.runner_up_similarity, 4),
        "reason": None if d is None else d.reason,
        "quality_ok": obs.quality_ok,
        "quality_reason": obs.quality_reason or None,
        "crop": crop_path,
        "sorted_crop": sorted_path,
    }


class SearchOutputSink:
    """EventSink that fills the output folder as frames are processed.

    A full disk or read-only folder mid-run costs crop files and JSON lines, never the run:
    crop writes fail through the CropStore (logged once, counted), a JSON line that cannot be
    written is counted in ``lines_lost`` and cut off, so ``matches.jsonl`` stays one valid
    record per line, and writing resumes when there is room again.

    Raises:
        StorageError: the output folder cannot be created (at start, before any frame).
    """

    def __init__(self, out_dir: Path, save_crops: bool = True, jpeg_quality: int = 90) -> None:
        """Raises StorageError (see the class); an earlier run's results in ``out_dir`` are removed."""
        self.out_dir = Path(out_dir)
        self.replaced = clear_previous_run(self.out_dir)
        try:
            for name in FOLDERS:
                (self.out_dir / name).mkdir(parents=True, exist_ok=True)
            self._jsonl: IO[bytes] = (self.out_dir / "matches.jsonl").open("ab", buffering=0)
        except OSError as exc:
            raise StorageError(f"cannot create the search output folder {self.out_dir}: {exc}") from exc
        self.store = CropStore(self.out_dir, jpeg_quality)
        self.save_crops = save_crops
        self.detections = 0
        self.matches = 0
        self.lines_lost = 0
        self._jsonl_failing = False

    def save_query(self, name: str, image: NDArray[np.uint8]) -> str | None:
        return self.store.save(f"query/{name}", image)

    def _save(self, folder: str, name: str, crop: NDArray[np.uint8] | None) -> str | None:
        if crop is None or not self.save_crops:
            return None
        return self.store.save(f"{folder}/{name}", crop)

    def on_frame(self, result: FrameResult) -> None:
        lines = []
        for obs in result.observations:
            name = _crop_name(result, obs)
            path = self._save("query_images", name, obs.crop)
            sorted_path = self._save(crop_folder(obs), name, obs.crop)
            lines.append(json.dumps(observation_record(result, obs, path, sorted_path)) + "\n")
            self.detections += 1
            self.matches += int(obs.matched)
        if lines:
            self._append("".join(lines).encode("utf-8"), len(lines))

    def _append(self, data: bytes, n_lines: int) -> None:
        """Append whole lines; on a failed write cut the file back, so no line is half written."""
        fh = self._jsonl
        start = fh.seek(0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[fh.write(view) or 0 :]
        except OSError as exc:
            self._lines_failed(exc, n_lines)
            with contextlib.suppress(OSError):
                fh.truncate(start)
            return
        if self._jsonl_failing:
            self._jsonl_failing = False
            log.warning("%s: writing works again (%d lines were lost)", fh.name, self.lines_lost)

    def _lines_failed(self, exc: OSError, n_lines: int) -> None:
        self.lines_lost += n_lines
        if not self._jsonl_failing:
            self._jsonl_failing = True
            log.error(
                "cannot write %s: %s; the run goes on, its detections are lost from the file "
                "until there is room again",
                self._jsonl.name,
                exc,
            )

    def on_sighting_closed(self, sighting: Sighting) -> None:
        d = sighting.decision
        log.debug(
            "sighting closed: camera %s track %d, %d embeddings, verdict %s",
            sighting.key.camera_id,
            sighting.key.track_id,
            sighting.n_embeddings,
            None if d is None else d.verdict.value,
        )

    def on_status(self, status: SourceStatus) -> None:
        return None

    @property
    def write_errors(self) -> int:
        """Crop files and JSON lines that could not be written."""
        return self.store.write_errors + self.lines_lost

    def close(self) -> None:
        self._jsonl.close()
        if self.write_errors:
            log.warning(
                "%s is incomplete: %d crop files and %d lines of matches.jsonl could not be written "
                "(last error: %s)",
                self.out_dir,
                self.store.write_errors,
                self.lines_lost,
                self.store.last_error or "see above",
            )


def summarize(out_dir: Path) -> dict[str, Any]:
    """Counts per camera and per query person from matches.jsonl, for summary.json and the CLI."""
    per_cam: dict[str, dict[str, int]] = {}
    per_person: dict[str, int] = {}
    with (Path(out_dir) / "matches.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            c = per_cam.setdefault(rec["camera_id"], {"detections": 0, "matched": 0, "uncertain": 0})
            c["detections"] += 1
            c["matched"] += int(rec["matched"])
            c["uncertain"] += int(rec.get("verdict") == Verdict.UNCERTAIN.value)
            if rec["matched"]:
                per_person[rec["query_id"]] = per_person.get(rec["query_id"], 0) + 1
    return {
        "cameras": per_cam,
        "people": per_person,
        "total_matched": int(np.sum([c["matched"] for c in per_cam.values()])),
    }


def write_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    """Write ``summary.json`` whole or not at all (a temporary file renamed over it).

    Raises:
        StorageError: it cannot be written.
    """
    path = Path(out_dir) / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
