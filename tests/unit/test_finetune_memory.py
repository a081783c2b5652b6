"""``finetune --from-memory`` on a tiny synthetic memory: real SQLite, real crop files, a random OSNet.

The memory holds six sightings: two tracks seen together on camera a (the only certain
negatives), a lone later track on a, a track on camera b at the same time as the pair (another
camera: not a negative), a track with too few crops, and a track the pipeline split in two.
"""

from __future__ import annotations

import numpy as np
import pytest

from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import BestCrop, Frame, Sighting, SightingKey, l2_normalize
from reidcam.eval.dataset import DatasetError
from reidcam.eval.finetune import cooccur_batches
from reidcam.eval.memory_set import MemorySetSettings, build_memory_set
from reidcam.identity import IdentityMemory
from reidcam.identity.track_crops import TRACK_FOLDER, TrackCropSink

T0 = 1_700_000_000.0
MODEL = "synthetic-v1"


def _crop(track: int, k: int = 0) -> np.ndarray:
    """A person-shaped crop: the track's own colour plus the noise of view ``k``."""
    base = np.random.default_rng(track).integers(0, 255, 3)
    noise = np.random.default_rng(1000 * track + k).normal(0, 12, (96, 40, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _record(memory: IdentityMemory, cam: str, track: int, t0: float, t1: float, part: int = 0) -> None:
    vec = l2_normalize(np.random.default_rng(track * 10 + part).normal(size=16)).astype(np.float32)
    best = BestCrop(_crop(track), np.array([0, 0, 40, 96], np.float32), 0.9, 0, t0)
    memory.record_sighting(
        Sighting(SightingKey(cam, track, part), t0, t1, 3, vec, MODEL, best_crop_quality=0.9, best_crop=best)
    )


def _frames(sink: TrackCropSink, cam: str, track: int, t0: float, n: int) -> None:
    """``n`` frames at 1 s steps with one good observation of ``track`` and one gated-out one."""
    for k in range(n):
        frame = Frame(cam, k, np.zeros((120, 80, 3), np.uint8), t0 + k)
        good = Observation(0, np.zeros(4, np.float32), 0.9, track, _crop(track, k + 1), True, "", None)
        bad = Observation(1, np.zeros(4, np.float32), 0.9, 999, _crop(999), False, "too small", None)
        sink.on_frame(FrameResult(frame, (good, bad)))


@pytest.fixture
def memory_dir(tmp_path):
    sink = TrackCropSink(tmp_path, every_n_frames=1, max_per_track=5)
    with IdentityMemory.open(tmp_path) as memory:
        _record(memory, "a", 1, T0, T0 + 6)  # with 2: seen together
        _frames(sink, "a", 1, T0, 6)
        _record(memory, "a", 2, T0 + 2, T0 + 8)
        _frames(sink, "a", 2, T0 + 2, 6)
        _record(memory, "a", 3, T0 + 500, T0 + 506)  # alone, later
        _frames(sink, "a", 3, T0 + 500, 6)
        _record(memory, "b", 4, T0, T0 + 6)  # same time, other camera
        _frames(sink, "b", 4, T0, 6)
        _record(memory, "a", 5, T0 + 1, T0 + 7)  # overlaps 1 and 2 but only 2 crops
        _frames(sink, "a", 5, T0 + 1, 1)
        _record(memory, "a", 6, T0 + 3, T0 + 5, part=0)  # split by the pipeline
        _record(memory, "a", 6, T0 + 5, T0 + 8, part=1)
        _frames(sink, "a", 6, T0 + 3, 5)
    assert sink.saved == 5 + 5 + 5 + 5 + 1 + 5  # capped at 5 per track; gated-out crops never saved
    return tmp_path


def test_clean_tracks_become_pseudo_identities_with_cooccurrence_negatives(memory_dir):
    mset = build_memory_set(memory_dir, MemorySetSettings(min_crops=4, min_duration_s=1.0))
    tracks = {(row.camera_id, row.track_id): pid for pid, row in enumerate(mset.tracks, 1)}
    assert set(tracks) == {("a", 1), ("a", 2), ("a", 3), ("b", 4)}
    assert mset.skipped == {"too few crops on disk": 1, "split track": 2}
    assert mset.negatives == {(tracks[("a", 1)], tracks[("a", 2)])}
    assert mset.cameras == ("a", "b")
    per_track = {pid: sum(i.pid == pid for i in mset.items) for pid in tracks.values()}
    assert per_track == dict.fromkeys(tracks.values(), 6)  # best crop + 5 samples
    assert {i.camid for i in mset.items if i.pid == tracks[("b", 4)]} == {2}
    # the samples of a track come from its own time span only
    a1 = [i.path for i in mset.items if i.pid == tracks[("a", 1)]]
    assert all(TRACK_FOLDER in str(p) for p in a1[1:])
    assert all(f"/a/1/{round((T0 + k) * 1000)}.jpg" in str(p) for k, p in enumerate(a1[1:]))


def test_no_tracks_seen_together_is_a_clear_error(memory_dir):
    with pytest.raises(DatasetError, match="none seen together"):
        build_memory_set(memory_dir, MemorySetSettings(min_crops=7))  # no track has 7 crops
    with pytest.raises(DatasetError, match="no identity memory"):
        build_memory_set(memory_dir / "nothing-here")


def test_cooccurrence_batches_hold_only_tracks_seen_together():
    pids = np.repeat(np.arange(1, 6), 3)
    negatives = frozenset({(1, 2), (2, 3), (4, 5)})
    batches = cooccur_batches(pids, negatives, p=4, k=2, rng=np.random.default_rng(0))
    groups = [sorted(set(pids[b].tolist())) for b in batches]
    assert set().union(*map(set, groups)) == {1, 2, 3, 4, 5}
    for g in groups:
        seed_ok = any(all(x == s or (min(x, s), max(x, s)) in negatives for x in g) for s in g)
        assert seed_ok, g  # every member was seen with the batch's seed track


def test_held_back_tracks_calibrate_label_free(memory_dir):
    from reidcam.eval.finetune_memory import label_free_calibration, split_memory_set
    from reidcam.testing.fakes import FakeEmbedder

    mset = build_memory_set(memory_dir)
    pid = {(row.camera_id, row.track_id): n for n, row in enumerate(mset.tracks, 1)}
    split = split_memory_set(mset, 0.3)  # camera a: 1, 2 | 3 (latest); camera b: 4 alone, kept to train
    assert {i.pid for i in split.calib} == {pid[("a", 3)]}
    assert split.train_negatives == mset.negatives and not split.calib_negatives
    cal, pairs = label_free_calibration(FakeEmbedder(), split, 0.01, "test")
    assert cal is None and len(pairs.same) > 0 and len(pairs.different) == 0  # nothing seen together

    everything = split_memory_set(mset, 0.99)  # every track held back: the pair 1-2 calibrates
    cal, pairs = label_free_calibration(FakeEmbedder(), everything, 0.01, "test")
    assert cal is not None and cal.model_id == "fake-colour-v1"
    assert len(pairs.different) == 4  # two chunks of track 1 x two of track 2
    assert len(pairs.same) == 4 * 1  # four tracks with 6 crops: chunk 1 vs chunk 2
    assert pairs.same.min() > pairs.different.max()  # one colour per track
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split_memory_set(mset, 1.0)


torch = pytest.importorskip("torch")


def test_masked_triplet_ignores_pairs_not_known_different():
    from reidcam.eval.finetune import batch_hard_triplet, negative_mask

    labels = torch.tensor([1, 1, 2, 2, 3, 3])
    feats = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9], [1.0, 0.01], [0.95, 0.05]])
    # 3 looks like 1 (maybe the same person back again); only 1-2 are known different
    mask = negative_mask(torch, labels, frozenset({(1, 2)}))
    assert float(batch_hard_triplet(torch, feats, labels, 0.3, mask)) == 0.0
    assert float(batch_hard_triplet(torch, feats, labels, 0.3)) > 0.0


def test_from_memory_trains_a_step_and_writes_loadable_weights(memory_dir, tmp_path):
    from reidcam.config.schema import ReidConfig
    from reidcam.eval.finetune import FinetuneSettings, save_checkpoint, train
    from reidcam.reid.backends import build_embedder
    from reidcam.reid.backends.torch_models import build_model

    mset = build_memory_set(memory_dir)
    net = build_model("osnet_x0_25")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    settings = FinetuneSettings(epochs=1, identities_per_batch=2, images_per_identity=2)
    log = train(net, mset.items, settings, negatives=mset.negatives)
    assert log.steps == 1 and np.isfinite(log.epoch_loss[0])
    key = "conv5.conv.weight"
    assert not torch.equal(net.state_dict()[key], before[key])
    path = tmp_path / "out" / "osnet_mem.pth"
    save_checkpoint(net, path)
    emb = build_embedder(ReidConfig(model="osnet_mem", weights=str(path), backend="torch"), path)
    vecs = emb.embed([_crop(1), _crop(2)]).vectors
    assert vecs.shape == (2, 512) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_distillation_term_is_zero_for_the_original_model_and_grows_with_drift():
    from reidcam.eval.finetune import _distill, _teacher

    net = torch.nn.Linear(6, 4)
    teacher = _teacher(net, 1.0)
    assert _teacher(net, 0.0) is None
    assert all(not p.requires_grad for p in teacher.parameters())
    x = torch.randn(5, 6)
    assert float(_distill(torch, net(x), teacher, x).detach()) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        net.weight.add_(torch.randn_like(net.weight))
    assert float(_distill(torch, net(x), teacher, x).detach()) > 0.01
