"""The pipeline feeding the identity memory: the synthetic two-camera scene with fake models."""

from __future__ import annotations

import cv2
import numpy as np

from reidcam.config import TrackerConfig
from reidcam.identity import IdentitySettings, IdentitySink
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.runner import Runner
from reidcam.pipeline.sightings import SightingBook
from reidcam.testing import FakeSource, render, two_camera_scene
from reidcam.testing.models import fake_models
from reidcam.track import build_tracker

N_FRAMES = 50
COLOURS = {(30, 30, 220): "alice", (220, 60, 30): "bob", (40, 200, 40): "carol"}


def _run_scene(sink):
    walkers = two_camera_scene()
    units = []
    for cam in ("cam0", "cam1"):
        tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
        source = FakeSource(cam, render(walkers, cam, N_FRAMES))
        units.append(CameraUnit(cam, source, tracker, SightingBook(cam, max_missing_frames=10)))
    models = fake_models()
    Runner(units, models, sink).run()


def _who(memory, crop_path):
    img = cv2.imread(str(memory.crop_file(crop_path)))
    colour = tuple(int(c) for c in np.median(img.reshape(-1, 3), axis=0))
    return next(name for ref, name in COLOURS.items() if np.abs(np.subtract(ref, colour)).max() < 12)


def test_every_person_gets_one_global_id_across_cameras(open_memory):
    memory = open_memory(IdentitySettings(threshold=0.8))
    assigned = []
    sink = IdentitySink(memory, on_assigned=assigned.append)
    _run_scene(sink)
    assert sink.close(), "a clean shutdown writes everything queued"
    assert sink.failed == 0 and sink.dropped == 0 and sink.written == len(assigned) >= 4

    people: dict[str, set[str]] = {}
    cameras: dict[str, set[str]] = {}
    for identity in memory.list_identities():
        for s in memory.timeline(identity.id):
            people.setdefault(_who(memory, s.crop_path), set()).add(identity.id)
            cameras.setdefault(identity.id, set()).add(s.camera_id)
    assert {name: len(ids) for name, ids in people.items()} == {"alice": 1, "bob": 1, "carol": 1}
    alice = next(iter(people["alice"]))
    assert cameras[alice] == {"cam0", "cam1"}
    assert cameras[next(iter(people["bob"]))] == {"cam0"}
    assert cameras[next(iter(people["carol"]))] == {"cam1"}


def test_sightings_carry_their_best_crop_box_and_frame(open_memory):
    memory = open_memory()
    sink = IdentitySink(memory)
    _run_scene(sink)
    sink.close()
    stored = [s for i in memory.list_identities() for s in memory.timeline(i.id)]
    assert stored and all(s.crop_path and s.crop_box and s.crop_frame for s in stored)
    for s in stored:
        x1, y1, x2, y2 = s.crop_box
        assert (x2 - x1, y2 - y1) == (40, 100), "the best crop is the person fully in view"
