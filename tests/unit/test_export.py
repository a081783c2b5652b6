"""``reidcam export``: a torchreid checkpoint to ONNX and OpenVINO, refused when outputs disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidcam.cli import main
from reidcam.export.detector import relative_diff
from reidcam.export.reid import ExportError, _check, check_crops

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reidcam.reid.backends import torch_models

    torch.manual_seed(0)
    net = torch_models.build_model("osnet_x0_25")
    path = tmp_path_factory.mktemp("ckpt") / "osnet_x0_25_test.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    return path


@pytest.mark.slow  # torch.onnx.export + OpenVINO conversion: 10-40 s on 2 cores
def test_reid_export_writes_onnx_and_openvino_that_agree(checkpoint: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("openvino")
    assert main(["export", str(checkpoint), "--out", str(tmp_path)]) == 0
    report = capsys.readouterr().out
    assert '"min_cosine_vs_torch"' in report
    assert (tmp_path / "osnet_x0_25_test.onnx").is_file()
    assert (tmp_path / "osnet_x0_25_test.xml").is_file() and (tmp_path / "osnet_x0_25_test.bin").is_file()


def test_a_disagreeing_export_is_removed(tmp_path: Path) -> None:
    class Const:
        model_id, dim = "m", 2

        def __init__(self, v: list[float]) -> None:
            self.v = np.asarray([v], np.float32)

        def embed(self, crops):  # type: ignore[no-untyped-def]
            from reidcam.core.types import Embeddings

            return Embeddings(np.repeat(self.v, len(crops), 0), "m")

    out = tmp_path / "bad.onnx"
    out.write_bytes(b"x")
    with pytest.raises(ExportError, match="disagrees"):
        _check(Const([1.0, 0.0]), Const([0.0, 1.0]), check_crops(2), [out])  # type: ignore[arg-type]
    assert not out.exists()


def test_export_refuses_unknown_files_and_formats(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    weird = tmp_path / "model.bin"
    weird.write_bytes(b"x")
    assert main(["export", str(weird), "--out", str(tmp_path)]) == 2
    assert main(["export", str(tmp_path / "none.pth"), "--out", str(tmp_path)]) == 2
    assert main(["export", str(weird), "--out", str(tmp_path), "--kind", "reid", "--format", "tflite"]) == 2
    assert "--format" in capsys.readouterr().err


def test_relative_diff() -> None:
    a = np.array([1.0, -2.0], np.float32)
    assert relative_diff(a, a) == 0.0
    assert relative_diff(a, a + 0.02) == pytest.approx(0.01)
    assert relative_diff(a, np.zeros(3, np.float32)) == float("inf")
