"""build_embedder's choices, torchreid checkpoint loading, and parity with torchreid's own models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from reidcam.config.schema import ReidConfig
from reidcam.core.errors import ConfigError, DependencyError, WeightsError
from reidcam.reid.backends import backend_for, build_embedder, preset_for
from reidcam.reid.backends.torch_backend import TorchEmbedder, clean_state_dict
from reidcam.reid.backends.torch_models import build_model, infer_arch


@pytest.fixture(scope="module")
def osnet_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pth") / "osnet_x0_25_custom.pth"
    torch.save(build_model("osnet_x0_25").state_dict(), path)
    return path


@pytest.mark.parametrize(
    ("backend", "suffix", "expected"),
    [
        ("auto", ".onnx", "onnxruntime"),
        ("auto", ".pth", "torch"),
        ("auto", ".pt", "torch"),
        ("auto", ".xml", "openvino"),
        ("torch", ".onnx", "torch"),
        ("auto", ".bin", "openvino"),
    ],
)
def test_backend_choice(backend: str, suffix: str, expected: str) -> None:
    # '.bin' is unknown, so the registry entry of the default model (OMZ 0288 IR: openvino) decides.
    assert backend_for(ReidConfig(backend=backend), Path("m" + suffix)) == expected


def test_backend_choice_by_registry_entry() -> None:
    # An unknown suffix follows the named model's registry entry, whatever the default is.
    assert backend_for(ReidConfig(model="osnet_x0_25_msmt17"), Path("m.bin")) == "onnxruntime"
    assert backend_for(ReidConfig(model="person-reidentification-retail-0288"), Path("m.bin")) == "openvino"


def test_backend_choice_unknown() -> None:
    with pytest.raises(ConfigError, match=r"reid\.backend"):
        backend_for(ReidConfig(model="mystery"), Path("model.bin"))


def test_presets() -> None:
    assert preset_for("osnet_x0_25_msmt17") == "osnet"
    assert preset_for("person-reidentification-retail-0288") == "omz"
    assert preset_for("person-reidentification-retail-0288_onnx") == "omz"
    assert preset_for("osnet_x1_0_market1501") == "osnet"
    assert preset_for("resnet50_fc512_msmt17") == "osnet"
    with pytest.raises(ConfigError, match="unknown ReID model 'mystery'"):
        preset_for("mystery")


def test_build_torch_embedder(osnet_pth: Path) -> None:
    cfg = ReidConfig(model="osnet_x0_25_custom", batch_size=3)
    emb = build_embedder(cfg, osnet_pth)
    assert isinstance(emb, TorchEmbedder)
    assert emb.model_id == "osnet_x0_25_custom" and emb.dim == 512 and emb.arch == "osnet_x0_25"
    out = emb.embed([np.full((120, 50, 3), 128, np.uint8)] * 4)
    assert out.vectors.shape == (4, 512)


def test_clean_state_dict() -> None:
    ck = {"state_dict": {"module.a": 1, "module.classifier.weight": 2, "b": 3}, "epoch": 4}
    assert clean_state_dict(ck) == {"a": 1, "b": 3}
    with pytest.raises(WeightsError, match="no state_dict"):
        clean_state_dict([1, 2])


def test_mismatched_checkpoint_is_weights_error(tmp_path: Path) -> None:
    state = build_model("osnet_x0_25").state_dict()
    del state["conv5.conv.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(WeightsError, match="not a supported torchreid checkpoint"):
        TorchEmbedder(tmp_path / "broken.pth")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="matches no supported architecture"):
        TorchEmbedder(tmp_path / "other.pth")


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": build_model("osnet_x0_25").state_dict(), "obj": Path("x")}, tmp_path / "p.pth")
    with pytest.raises(WeightsError, match="cannot load torch checkpoint"):
        TorchEmbedder(tmp_path / "p.pth")


def test_missing_onnx_file_is_weights_error(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="cannot load ONNX ReID model"):
        build_embedder(ReidConfig(), tmp_path / "bad.onnx")


@pytest.mark.parametrize("arch", ["osnet_x1_0", "osnet_x0_75", "osnet_x0_5", "osnet_x0_25"])
def test_infer_arch(arch: str) -> None:
    assert infer_arch(build_model(arch).state_dict()) == (arch, 512)  # resnet50: see the parity test


def _load_torchreid_file(name: str) -> ModuleType:
    """Load one model file of the installed torchreid without importing the torchreid package
    (whose __init__ pulls in its training stack and gdown)."""
    spec = importlib.util.find_spec("torchreid")
    if spec is None or spec.origin is None:
        pytest.skip("torchreid not installed (pip install torchreid==0.2.5): parity check skipped")
    path = Path(spec.origin).parent / "reid" / "models" / f"{name}.py"
    mod_spec = importlib.util.spec_from_file_location(f"_torchreid_{name}", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("file", "arch"), [("osnet", "osnet_x0_25"), ("osnet", "osnet_x0_5"), ("resnet", "resnet50")]
)
def test_parity_with_torchreid(file: str, arch: str) -> None:
    """Our re-implementation loads torchreid's keys strictly and computes the same features."""
    ref = getattr(_load_torchreid_file(file), arch)(num_classes=7, pretrained=False).eval()
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith("classifier.")}
    for key, value in state.items():
        if key.endswith("running_var"):
            value.uniform_(0.5, 2.0)
    ref.load_state_dict(state, strict=False)
    assert infer_arch(state) == (arch, 2048 if arch == "resnet50" else 512)
    ours = build_model(*infer_arch(state)).eval()
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("module", "backend", "hint"),
    [
        ("openvino", "openvino", r"pip install openvino"),
        ("onnxruntime", "onnxruntime", "pip install"),
    ],
)
def test_missing_runtime_is_dependency_error(
    module: str, backend: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(DependencyError, match=hint):
        build_embedder(ReidConfig(backend=backend), tmp_path / "model.xml")
