"""The worker's live feed: bytes per frame and camera-thread cost, with nobody watching and watched.

Runs the pipeline (the synthetic scene with fake models, or ``--video`` with the real models of
``REIDCAM_WEIGHTS_DIR``) for ``--frames`` processed frames, keeps its ``FrameResult``s, then
replays them through two fresh ``LiveFeedSink``s into a real ``nats-server`` (own, loopback, free
port): one with nobody watching, one with a ``.watch`` ping before every frame. A subscriber on
``reidcam.cameras.>`` counts what arrives. Same input for both modes. Also the size of the
closed sightings' messages (``broker.wire``) without and with their best crop. Prints one JSON
document.

    python benchmarks/live_feed.py --frames 300
    REIDCAM_WEIGHTS_DIR=... python benchmarks/live_feed.py --video $REIDCAM_MEDIA_DIR/vtest.avi --frames 150
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_sightings import start_server
from reidcam.broker.connection import BrokerClient
from reidcam.broker.feed import CAMERA_SUBJECTS, parse_subject
from reidcam.broker.wire import ClosedSighting, encode_sighting, new_sighting_id
from reidcam.cluster.feed_sink import LiveFeedSink
from reidcam.config import AppConfig
from reidcam.config.schema import BrokerConfig
from reidcam.core.events import FrameResult
from reidcam.core.types import Sighting
from reidcam.pipeline.runner import Runner
from reidcam.testing.sinks import RecordingSink


def record(args: argparse.Namespace) -> tuple[list[FrameResult], list[Sighting], str]:
    """``--frames`` frame results of the pipeline, the sightings it closed, and what produced them."""
    if args.video:
        from reidcam.pipeline.build import build_camera, build_models

        cfg = AppConfig.model_validate({"cameras": [{"id": "video", "source": str(args.video)}]})
        models = build_models(cfg)
        units = [build_camera(cfg, cfg.cameras[0])]
        what = f"{Path(args.video).name}, real models ({models.embedder.model_id})"
    else:
        from reidcam.testing.live import scene_cameras
        from reidcam.testing.models import fake_models

        models, units = fake_models(), scene_cameras(fps=30.0)
        what = "synthetic two-camera scene, fake models"
    recorder = RecordingSink()
    runner = Runner(units, models, recorder, wait_for_cameras=False)
    runner.start()
    while len(recorder.frames) < args.frames and runner.running:
        time.sleep(0.05)
    runner.stop()  # closes the open sightings too
    return recorder.frames[: args.frames], recorder.closed, what


def sighting_bytes(closed: list[Sighting]) -> dict[str, object]:
    """Message bytes of the closed sightings (those with a prototype) without and with their crop."""
    sent = [s for s in closed if s.prototype is not None and s.model_id is not None]
    sizes = {
        way: sorted(
            len(
                encode_sighting(
                    ClosedSighting.from_sighting(s, new_sighting_id(), with_crop=way == "with_crop")
                )
            )
            for s in sent
        )
        for way in ("without_crop", "with_crop")
    }
    out: dict[str, object] = {"sightings": len(sent)}
    for way, v in sizes.items():
        if v:
            out[way] = {"mean": round(statistics.fmean(v)), "p50": v[len(v) // 2], "max": v[-1]}
    return out


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.lock = threading.Lock()

    async def on_msg(self, msg: Any) -> None:
        if parse_subject(msg.subject)[1] == "frame":
            with self.lock:
                self.messages += 1
                self.bytes += len(msg.data)


def replay(url: str, results: list[FrameResult], watched: bool) -> dict[str, object]:
    cfg = BrokerConfig.model_validate({"url": url})
    with BrokerClient(cfg) as listener, BrokerClient(cfg) as client:
        counter = Counter()
        listener.call(listener.nc.subscribe(CAMERA_SUBJECTS, cb=counter.on_msg))
        listener.call(listener.nc.flush())
        sink = LiveFeedSink(client, "bench").start()
        cpu_s = 0.0
        for r in results:
            if watched:
                sink.watch(r.frame.camera_id)
            t0 = time.thread_time()
            sink.on_frame(r)
            cpu_s += time.thread_time() - t0
            time.sleep(0.001)  # a camera's pace, roughly: the broker loop keeps up
        deadline = time.monotonic() + 10
        while counter.messages < len(results) and time.monotonic() < deadline:
            time.sleep(0.05)
        sink.stop()
        n = max(counter.messages, 1)
        return {
            "frames_sent": len(results),
            "frames_received": counter.messages,
            "bytes_per_frame": round(counter.bytes / n),
            "camera_thread_cpu_ms_per_frame": round(cpu_s * 1000.0 / len(results), 3),
            "crops_per_frame": round(sink.counts.crops / len(results), 3),
            "pictures": sink.counts.images,
            "dropped": sink.counts.dropped,
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300, help="processed frames to replay (all cameras)")
    p.add_argument("--video", type=Path, help="a video file (real models); default: the synthetic scene")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results, closed, what = record(args)
    h, w = results[0].frame.image.shape[:2]
    observations = sum(len(r.observations) for r in results) / len(results)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            out = {
                "input": what,
                "frame_size": [int(w), int(h)],
                "observations_per_frame": round(observations, 2),
                "nobody_watching": replay(url, results, watched=False),
                "watched": replay(url, results, watched=True),
                "sighting_message_bytes": sighting_bytes(closed),
            }
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
