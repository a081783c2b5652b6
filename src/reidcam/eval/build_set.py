"""Build a Market-1501-layout ReID set from labelled sources, identities split train/test.

Sources of labelled person crops:

- MOTChallenge ground truth (``gt/gt.txt``): a track id is a person; only the frames on disk
  are cut. A MOT sequence is one camera, so its frames are split in time into two pseudo
  cameras (first half ``c1``, second half ``c2``): the Market protocol then asks a query from
  the start of the clip to find the person later in it, not in the very same frame.
- Labelled full frames (a JSON of boxes per frame named ``c<cam>s<seq>_<frame>.jpg``) plus
  Market-named query crops, e.g. the shared ``market1501_2cam`` media.
- Confirmed matches of ``reidcam search`` outputs: the crops of ``matches.jsonl`` rows with
  verdict 'match' that are still in ``match_detections/`` (delete a wrong one there to reject it).

Train and test identities are disjoint: ``bounding_box_train/`` holds every crop of the
train identities; for each test identity and camera the earliest crop goes to ``query/`` and
the rest to ``bounding_box_test/``. Distractors (everybody else in labelled frames, found by
the detector) go to ``bounding_box_test/`` as pid 0000.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.capture import imread_color
from reidcam.core.geometry import iou_matrix
from reidcam.detect.base import Detector
from reidcam.eval.dataset import DatasetError, market_name, parse_market_name, write_image
from reidcam.eval.mot_io import MotSequence, keep_frames, pedestrian_boxes, read_gt
from reidcam.reid.crop_gate import extract_crops

log = logging.getLogger(__name__)

_FRAME_NAME = re.compile(r"^c(\d+)s(\d+)_(\d+)")
DISTRACTOR = "__distractor__"  # identity of crops written as Market pid 0


@dataclass(frozen=True, eq=False)
class LabelledCrop:
    """One person crop with its identity; ``camera``/``seq``/``frame`` become its Market name."""

    image: NDArray[np.uint8]
    identity: str
    camera: int
    seq: int
    frame: int


def _cut(image: NDArray[np.uint8], xyxy: list[float]) -> NDArray[np.uint8] | None:
    return extract_crops(image, np.asarray([xyxy], np.float32))[0]


def _read(path: Path) -> NDArray[np.uint8]:
    img = imread_color(path)
    if img is None:
        raise DatasetError(f"cannot read image {path}")
    return img


def mot_crops(
    seq: MotSequence, seq_number: int, min_height_px: float = 80.0, min_visibility: float = 0.5
) -> list[LabelledCrop]:
    """Ground-truth pedestrians of the frames on disk, cut out; identity ``<sequence>/<track id>``.

    Boxes shorter than ``min_height_px`` (the pipeline's crop gate never matches those) or less
    visible than ``min_visibility`` are left out.
    """
    numbers = seq.frame_numbers
    split_at = numbers[math.ceil(len(numbers) / 2) - 1]
    rows = pedestrian_boxes(keep_frames(read_gt(seq.gt_path), numbers), min_visibility)
    rows = rows[rows[:, 5] >= min_height_px]
    by_frame: dict[int, list[NDArray[np.float64]]] = defaultdict(list)
    for r in rows:
        by_frame[int(r[0])].append(r)
    out = []
    for number, path in seq.frames:
        if number not in by_frame:
            continue
        image = _read(path)
        for r in by_frame[number]:
            crop = _cut(image, [r[2], r[3], r[2] + r[4], r[3] + r[5]])
            if crop is not None:
                cam = 1 if number <= split_at else 2
                out.append(LabelledCrop(crop, f"{seq.name}/{int(r[1])}", cam, seq_number, number))
    return out


def default_frame_labels() -> dict[str, Any]:
    """The hand labels of the shared ``market1501_2cam`` frames that ship with reidcam."""
    text = resources.files("reidcam.eval").joinpath("data/market1501_2cam.json").read_text("utf-8")
    return dict(json.loads(text))


def labelled_frame_crops(
    root: Path, labels: dict[str, Any] | None = None, include_partly_visible: bool = False
) -> list[LabelledCrop]:
    """Crops of one labelled person from ``root/frames`` plus the Market-named ``root/query`` crops.

    ``labels``: ``{"identity": str, "boxes": {frame name: xyxy}, "partly_visible": [names]}``;
    default: the shipped labels of the Market two-camera frames. Query crops whose pid matches
    the identity's Market pid (``market-0001`` -> 1) join that identity.
    """
    labels = labels or default_frame_labels()
    identity = str(labels["identity"])
    skip = set() if include_partly_visible else set(labels.get("partly_visible", []))
    out = []
    for name, box in sorted(labels["boxes"].items()):
        m = _FRAME_NAME.match(name)
        if name in skip or m is None or not (root / "frames" / name).is_file():
            continue
        crop = _cut(_read(root / "frames" / name), box)
        if crop is not None:
            out.append(LabelledCrop(crop, identity, int(m.group(1)), int(m.group(2)), int(m.group(3))))
    pid = int(identity.rsplit("-", 1)[-1]) if identity.rsplit("-", 1)[-1].isdigit() else None
    for path in sorted((root / "query").glob("*.jpg")):
        q_pid, cam = parse_market_name(path.name)
        m = re.match(r"^-?\d+_c\d+s(\d+)_(\d+)", path.name)
        if q_pid == pid and m is not None:
            out.append(LabelledCrop(_read(path), identity, cam, int(m.group(1)), int(m.group(2))))
    return out


def frame_distractor_crops(
    root: Path, labels: dict[str, Any], detector: Detector, min_height_px: float = 80.0, max_iou: float = 0.3
) -> list[LabelledCrop]:
    """Everybody else in the labelled frames: detected people overlapping no labelled box.

    They become Market distractors (pid 0, gallery only): people a query must not match, from
    the same cameras as the labelled person, with no identity of their own.
    """
    out = []
    for name, box in sorted(labels["boxes"].items()):
        m = _FRAME_NAME.match(name)
        if m is None or not (root / "frames" / name).is_file():
            continue
        image = _read(root / "frames" / name)
        dets = detector.detect([image])[0]
        if len(dets) == 0:
            continue
        tall = (dets.xyxy[:, 3] - dets.xyxy[:, 1]) >= min_height_px
        apart = iou_matrix(dets.xyxy, np.asarray([box], np.float32))[:, 0] < max_iou
        for xyxy in dets.xyxy[tall & apart]:
            crop = _cut(image, xyxy.tolist())
            if crop is not None:
                out.append(LabelledCrop(crop, DISTRACTOR, int(m.group(1)), int(m.group(2)), int(m.group(3))))
    return out


def _confirmed_rows(out_dir: Path) -> Iterable[dict[str, Any]]:
    with (out_dir / "matches.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("verdict") == "match" and rec.get("crop"):
                yield rec


def search_output_crops(out_dirs: Iterable[Path]) -> list[LabelledCrop]:
    """Confirmed matches of ``reidcam search`` output folders; identity = the run's query id.

    A match counts as confirmed while its crop is still in ``match_detections/`` (its person's
    folder there). Camera ids
    are numbered 1.. in sorted order over all folders.

    Raises:
        DatasetError: a folder has no matches.jsonl.
    """
    rows = []
    for out_dir in map(Path, out_dirs):
        if not (out_dir / "matches.jsonl").is_file():
            raise DatasetError(f"{out_dir} is not a reidcam search output (no matches.jsonl)")
        for rec in _confirmed_rows(out_dir):
            # ``sorted_crop``: match_detections/<person>/...; older outputs kept matches flat.
            kept = out_dir / (rec.get("sorted_crop") or f"match_detections/{Path(rec['crop']).name}")
            if kept.is_file():
                rows.append((out_dir, rec, kept))
    cams = {c: i + 1 for i, c in enumerate(sorted({rec["camera_id"] for _, rec, _ in rows}))}
    return [
        LabelledCrop(
            _read(path), f"{d.name}/{rec['query_id']}", cams[rec["camera_id"]], 1, rec["frame"]["index"]
        )
        for d, rec, path in rows
    ]


def split_identities(
    identities: Iterable[str], test_fraction: float, seed: int = 0, force_test: Iterable[str] = ()
) -> set[str]:
    """The test identities: a seeded random ``test_fraction`` of them, plus ``force_test``."""
    ids = sorted(set(identities))
    forced = set(force_test) & set(ids)
    rest = [i for i in ids if i not in forced]
    n_test = max(0, round(test_fraction * len(ids)) - len(forced))
    picked = np.random.default_rng(seed).permutation(len(rest))[:n_test]
    return forced | {rest[i] for i in picked}


def write_market_set(
    crops: list[LabelledCrop], out: Path, test_ids: set[str], jpeg_quality: int = 95
) -> dict[str, Any]:
    """Write ``crops`` in Market layout under ``out``; also ``dataset.json`` (pid map, counts).

    pids are numbered 1.. in sorted identity order. Returns the summary written to dataset.json.
    """
    pids = {ident: i + 1 for i, ident in enumerate(sorted({c.identity for c in crops} - {DISTRACTOR}))}
    first_seen: set[tuple[str, int]] = set()
    counts: dict[str, int] = defaultdict(int)
    taken: dict[str, int] = defaultdict(int)
    for c in sorted(crops, key=lambda c: (c.identity, c.camera, c.seq, c.frame)):
        if c.identity == DISTRACTOR:
            split = "bounding_box_test"
        elif c.identity not in test_ids:
            split = "bounding_box_train"
        elif (c.identity, c.camera) not in first_seen:
            first_seen.add((c.identity, c.camera))
            split = "query"
        else:
            split = "bounding_box_test"
        stem = market_name(pids.get(c.identity, 0), c.camera, c.seq, c.frame, 0)[:-7]
        n = taken[stem]
        taken[stem] += 1
        write_image(out / split / f"{stem}_{n:02d}.jpg", c.image, jpeg_quality)
        counts[split] += 1
    summary = {
        "identities": {"train": len(set(pids) - test_ids), "test": len(set(pids) & test_ids)},
        "distractors": sum(c.identity == DISTRACTOR for c in crops),
        "images": dict(sorted(counts.items())),
        "pids": pids,
        "test_identities": sorted(test_ids & set(pids)),
    }
    (out / "dataset.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
