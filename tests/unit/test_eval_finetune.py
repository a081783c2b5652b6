"""Fine-tuning pieces that need no real weights: batches, loss, ONNX scope names, save and reload."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from reidcam.eval.finetune import pk_batches
from reidcam.reid.backends.onnx_to_torch import _shared_call, module_path


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("/conv1/conv/Conv_output_0", "conv1.conv"),
        ("/conv2/conv2.0/conv1/conv/Conv_output_0", "conv2.0.conv1.conv"),
        ("/conv2/conv2.0/conv2b/conv2b.0/conv2/Conv_output_0", "conv2.0.conv2b.0.conv2"),
        ("/conv2/conv2.2/conv2.2.0/conv/Conv_output_0", "conv2.2.0.conv"),
    ],
)
def test_module_path_from_onnx_scope(name, path):
    assert module_path(name) == path


def test_shared_module_calls_map_to_the_module():
    target = {"conv2.0.gate.fc1.weight": 0}
    assert _shared_call("conv2.0.gate.fc1_2", target) == "conv2.0.gate.fc1"
    assert _shared_call("conv2.0.gate.fc1", target) == "conv2.0.gate.fc1"


def test_pk_batches_cover_identities_with_k_each():
    pids = np.array([1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5])  # 4 has one image: no positive, left out
    batches = pk_batches(pids, p=2, k=4, rng=np.random.default_rng(0))
    seen = [set(pids[b].tolist()) for b in batches]
    assert all(len(b) == 8 for b in batches)
    assert set().union(*seen) == {1, 2, 3, 5}
    assert all(len(s) == 2 for s in seen)


def test_pk_batches_need_two_identities():
    assert pk_batches(np.array([1, 1, 1]), 4, 2, np.random.default_rng(0)) == []


torch = pytest.importorskip("torch")


def test_batch_hard_triplet_is_zero_when_separated_and_positive_when_not():
    from reidcam.eval.finetune import batch_hard_triplet

    labels = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0], [1.0, 0.01], [0, 1.0], [0.01, 1.0]])
    assert float(batch_hard_triplet(torch, apart, labels, 0.3)) == 0.0
    mixed = torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0.01], [0.01, 1.0]])
    assert float(batch_hard_triplet(torch, mixed, labels, 0.3)) > 1.0


@pytest.mark.slow
def test_train_save_and_load_through_the_torch_backend(tmp_path):
    """Two tiny epochs on a random OSNet, saved, then loaded the way the pipeline loads weights."""
    import cv2

    from reidcam.config.schema import ReidConfig
    from reidcam.eval.dataset import Item
    from reidcam.eval.finetune import FinetuneSettings, save_checkpoint, train
    from reidcam.reid.backends import build_embedder
    from reidcam.reid.backends.torch_models import build_model

    items = []
    for pid, colour in ((1, (0, 0, 200)), (2, (0, 200, 0))):
        for n in range(2):
            path = tmp_path / f"{pid:04d}_c1s1_{n:06d}_00.jpg"
            cv2.imwrite(str(path), np.full((64, 32, 3), colour, np.uint8))
            items.append(Item(path, pid, 1))
    net = build_model("osnet_x0_25")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    log = train(net, items, FinetuneSettings(epochs=2, identities_per_batch=2, images_per_identity=2))
    assert log.steps == 2 and len(log.epoch_loss) == 2 and not log.stopped_early
    after = net.state_dict()
    assert torch.equal(after["conv1.conv.weight"], before["conv1.conv.weight"])  # frozen stem
    assert not torch.equal(after["conv4.0.conv1.conv.weight"], before["conv4.0.conv1.conv.weight"])
    assert torch.equal(after["conv4.0.conv1.bn.running_mean"], before["conv4.0.conv1.bn.running_mean"])
    path = tmp_path / "osnet_tiny.pth"
    digest = save_checkpoint(net, path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "osnet_tiny.pth.sha256").read_text() == f"{digest}  osnet_tiny.pth\n"
    emb = build_embedder(ReidConfig(model="osnet_tiny", weights=str(path), backend="torch"), path)
    crops = [cv2.imread(str(i.path)) for i in items]
    v = emb.embed(crops).vectors
    with torch.inference_mode():
        from reidcam.reid.backends.preprocess import get_preset, preprocess

        ref = net.eval()(torch.from_numpy(preprocess(crops, get_preset("osnet")))).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(v, ref, atol=1e-5)
