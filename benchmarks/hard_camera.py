"""How well the ReID model tells people apart on a spoiled copy of a sample video (label-free).

Writes the first ``--frames`` frames of ``--video`` grey, low-contrast, downscaled and blurred
(``reidcam.testing.hard_clip``; the hard-camera browser test uses the defaults on 400 frames of
vtest.avi), plays them once through the product pipeline (every frame embedded, the pose check
off, as in the test) and prints the camera's label-free estimate: pairs, threshold for 1 % false
matches, true matches there. Prints figures, never pass/fail.

    python benchmarks/hard_camera.py --video $M/vtest.avi --frames 400
    python benchmarks/hard_camera.py --video $M/vtest.avi --frames 795 --scale 4 --blur 5 --contrast 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from reidcam.config import AppConfig
from reidcam.match.threshold_rule import pct
from reidcam.pipeline.autocal_run import gather
from reidcam.testing.hard_clip import Degradation, hard_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--scale", type=int, default=Degradation.scale)
    ap.add_argument("--blur", type=int, default=Degradation.blur_px)
    ap.add_argument("--contrast", type=float, default=Degradation.contrast)
    ap.add_argument("--model", default="osnet_x0_25_msmt17")
    ap.add_argument("--weights-dir", default=os.environ.get("REIDCAM_WEIGHTS_DIR"))
    args = ap.parse_args()
    how = Degradation(args.scale, args.blur, args.contrast)
    with tempfile.TemporaryDirectory() as tmp:
        clip = hard_clip(args.video, Path(tmp) / "hard.avi", args.frames, how)
        cfg = AppConfig.model_validate(
            {
                "cameras": [{"id": "hard", "source": str(clip)}],
                "weights": {"dir": args.weights_dir},
                "reid": {"model": args.model, "embed_interval_frames": 1},
                "detector": {"person_check": "off"},
            }
        )
        t0 = time.monotonic()
        est, _ = gather(cfg)
        e = est.estimate("hard")
    tmr = "-" if e.tmr_at_target is None else pct(e.tmr_at_target)
    thr = "-" if e.threshold is None else f"{e.threshold:.4f}"
    print(
        f"{args.video.name}, {args.frames} frames, {how}, {est.model_id}: "
        f"{e.num_negative} different-people / {e.num_positive} same-person pairs; "
        f"threshold {thr} for {pct(e.target_fmr)} false matches, true matches there {tmr} "
        f"({time.monotonic() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
