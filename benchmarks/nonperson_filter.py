"""Not a person, not in the gallery: precision of kept crops on MOT17-mini, with and without the
pose person check. Prints one JSON document.

Detections of the default detector on every MOT17-mini frame on disk; a kept detection matching
no evaluated pedestrian at IoU >= 0.5 (and no person-like distractor box) is a false positive.
"Good crops" are those the crop gate lets into ReID, the ones the person check gates in the
pipeline; "all" is every detection. The check's keypoint minimum is shown at 5, 7 (default), 9.

    REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... python benchmarks/nonperson_filter.py
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from reidcam.config import AppConfig
from reidcam.detect.person_check import PoseCheck
from reidcam.eval.nonperson import detect_frames, score_frames
from reidcam.pipeline.build import _weights, build_models


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    media = Path(os.environ["REIDCAM_MEDIA_DIR"])
    cfg = AppConfig.model_validate({"detector": {"person_check": "off"}})
    models = build_models(cfg)
    frames = detect_frames(media / "MOT17-mini", lambda im: models.detector.detect([im])[0], models.gate)
    pose = PoseCheck(_weights(cfg, cfg.detector.person_check_weights))
    t0 = time.perf_counter()
    kps = [np.asarray(pose.keypoints(f.image, f.detections.xyxy), int).reshape(-1) for f in frames]
    n = sum(len(k) for k in kps)
    out: dict[str, object] = {
        "detections": n,
        "pose_ms_per_box": round(1000 * (time.perf_counter() - t0) / n, 1),
    }
    rows = {"all": score_frames(frames, [np.ones(len(k), bool) for k in kps]).as_dict()}
    rows["good crops"] = score_frames(frames, [f.good for f in frames]).as_dict()
    for m in (5, 7, 9):
        rows[f"all, pose >= {m}"] = score_frames(frames, [k >= m for k in kps]).as_dict()
        rows[f"good crops, pose >= {m}"] = score_frames(
            frames, [f.good & (k >= m) for f, k in zip(frames, kps, strict=True)]
        ).as_dict()
    out["rows"] = rows
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
