"""Contract every ReID backend keeps: shapes, dtype, unit norm, empty input, colour order.

The models are tiny and made here (no real weights): a 1x1-conv + average-pool net exported to
ONNX (needs the ``onnx`` package), run by onnxruntime and OpenVINO, and a random-init OSNet
x0_25 saved as a torchreid-style ``.pth``. The expected output of each is computed from the
torch module on a hand-made input, so a wrong colour order or normalisation shows up.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from reidcam.core.types import Embeddings
from reidcam.reid.backends.base import Embedder

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
HAS_ONNX = importlib.util.find_spec("onnx") is not None
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def manual_input(bgr: tuple[int, int, int], preset: str) -> torch.Tensor:
    """The (1, 3, 256, 128) tensor a preset should make of a uniform crop of colour ``bgr``."""
    if preset == "osnet":
        rgb = np.array(bgr[::-1], np.float32) / 255.0
        px = (rgb - IMAGENET_MEAN) / IMAGENET_STD
    else:  # omz: BGR 0-255 as is
        px = np.array(bgr, np.float32)
    return torch.from_numpy(np.broadcast_to(px[None, :, None, None], (1, 3, 256, 128)).copy())


class ColourNet(nn.Module):
    """Channel means mixed by a fixed asymmetric matrix: the output tells the channel order."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, dim, 1, bias=True)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.mix.weight.copy_(torch.randn(dim, 3, 1, 1, generator=gen))
            self.mix.bias.copy_(torch.randn(dim, generator=gen) * 0.1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.mix(x)).flatten(1)


def export_onnx(model: nn.Module, path: Path, dynamic: bool = True) -> Path:
    model.eval()
    kwargs = {"dynamic_axes": {"images": {0: "batch"}, "output": {0: "batch"}}} if dynamic else {}
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 256, 128),),
        str(path),
        input_names=["images"],
        output_names=["output"],
        dynamo=False,
        **kwargs,
    )
    return path


@dataclass
class Case:
    """A backend under test: its embedder, the reference torch module, the preset it uses."""

    embedder: Embedder
    reference: nn.Module
    preset: str
    dim: int


def _onnx_case(tmp: Path, preset: str, dynamic: bool = True) -> Case:
    pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package: pip install onnx")
    from reidcam.reid.backends.onnxruntime_backend import OnnxEmbedder

    net = ColourNet().eval()
    path = export_onnx(net, tmp / "colour.onnx", dynamic)
    return Case(OnnxEmbedder(path, preset=preset, model_id="colour", batch_size=4), net, preset, 8)


def _openvino_case(tmp: Path, preset: str) -> Case:
    pytest.importorskip("openvino", reason="optional backend: pip install reidcam[openvino]")
    pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package: pip install onnx")
    from reidcam.reid.backends.openvino_backend import OpenVinoEmbedder

    net = ColourNet().eval()
    path = export_onnx(net, tmp / "colour.onnx", dynamic=False)  # fixed batch 1, like the OMZ IR
    return Case(OpenVinoEmbedder(path, preset=preset, model_id="colour", batch_size=4), net, preset, 8)


def calibrated_osnet() -> nn.Module:
    """Random-init OSNet x0_25 whose BatchNorm statistics come from a few random colour batches.

    With the init statistics (mean 0, var 1) the deep net's output hardly depends on the input
    (red vs blue cosine 0.9999); calibrated, it does, so the colour-order test means something.
    """
    from reidcam.reid.backends.torch_models import build_model

    torch.manual_seed(0)
    net = build_model("osnet_x0_25")
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 3, 1, 1).expand(8, 3, 256, 128) + 0.5 * torch.randn(8, 3, 256, 128))
    return net.eval()


def _torch_case(tmp: Path) -> Case:
    from reidcam.reid.backends.torch_backend import TorchEmbedder

    net = calibrated_osnet()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}  # DataParallel-style keys
    state["module.classifier.weight"] = torch.zeros(10, 512)  # dropped by the loader
    torch.save({"state_dict": state, "epoch": 1, "rank1": np.float32(0.5)}, tmp / "osnet.pth")
    return Case(
        TorchEmbedder(tmp / "osnet.pth", preset="osnet", model_id="osnet", batch_size=4), net, "osnet", 512
    )


CASES: dict[str, Callable[[Path], Case]] = {
    "onnxruntime-osnet": lambda tmp: _onnx_case(tmp, "osnet"),
    "onnxruntime-omz": lambda tmp: _onnx_case(tmp, "omz"),
    "onnxruntime-fixed-batch": lambda tmp: _onnx_case(tmp, "omz", dynamic=False),
    "openvino-omz": lambda tmp: _openvino_case(tmp, "omz"),
    "openvino-osnet": lambda tmp: _openvino_case(tmp, "osnet"),
    "torch-osnet": _torch_case,
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return CASES[request.param](tmp_path_factory.mktemp(request.param))


def crops_of_sizes(sizes: list[tuple[int, int]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def test_is_an_embedder(case: Case) -> None:
    assert isinstance(case.embedder, Embedder)
    assert case.embedder.dim == case.dim


def test_shape_dtype_unit_norm(case: Case) -> None:
    crops = crops_of_sizes([(256, 128), (40, 17), (300, 90), (9, 5), (128, 64), (500, 200), (64, 64)])
    emb = case.embedder.embed(crops)
    assert isinstance(emb, Embeddings)
    assert emb.vectors.shape == (7, case.dim)
    assert emb.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    assert emb.model_id == case.embedder.model_id


def test_empty_input(case: Case) -> None:
    emb = case.embedder.embed([])
    assert emb.vectors.shape == (0, case.dim)
    assert emb.vectors.dtype == np.float32


def test_batching_does_not_change_results(case: Case) -> None:
    """Chunks of batch_size (4 here) and padding of fixed-batch models give the same vectors."""
    crops = crops_of_sizes([(200, 80)] * 6, seed=1)
    together = case.embedder.embed(crops).vectors
    alone = np.concatenate([case.embedder.embed([c]).vectors for c in crops])
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.mark.parametrize("bgr", [(0, 0, 255), (255, 0, 0), (30, 160, 90)])
def test_colour_order_follows_preset(case: Case, bgr: tuple[int, int, int]) -> None:
    """A uniform BGR crop gives what the reference model gives on the preset's expected input."""
    crop = np.empty((180, 70, 3), np.uint8)
    crop[:] = bgr
    with torch.no_grad():
        ref = case.reference(manual_input(bgr, case.preset)).numpy()
    expected = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    got = case.embedder.embed([crop]).vectors
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_red_and_blue_differ(case: Case) -> None:
    red, blue = np.zeros((2, 100, 50, 3), np.uint8)
    red[..., 2] = 255
    blue[..., 0] = 255
    v = case.embedder.embed([red, blue]).vectors
    assert float(v[0] @ v[1]) < 0.999


@pytest.mark.parametrize(
    "bad", [np.zeros((0, 10, 3), np.uint8), np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)]
)
def test_bad_crop_is_a_clear_error(case: Case, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="crop 0"):
        case.embedder.embed([bad])
