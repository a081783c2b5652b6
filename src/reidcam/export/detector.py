"""Ultralytics ``.pt`` -> ONNX / OpenVINO through Ultralytics' exporter, checked on person boxes."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reidcam.export.reid import ExportError

log = logging.getLogger(__name__)

MAX_REL_DIFF = 1e-3


def check_input(media: Path | None, imgsz: int) -> NDArray[np.float32]:
    """(1, 3, imgsz, imgsz) float32 RGB 0-1 input: bus.jpg from the media folder, else noise."""
    from reidcam.capture import imread_color
    from reidcam.detect.yolox import letterbox

    img = imread_color(media / "bus.jpg") if media is not None and (media / "bus.jpg").is_file() else None
    if img is None:
        img = np.random.default_rng(0).integers(0, 255, (imgsz, imgsz, 3), dtype=np.uint8)
    chw, _ = letterbox(img, (imgsz, imgsz))
    return np.ascontiguousarray(chw[::-1][None] / 255.0, dtype=np.float32)  # BGR -> RGB, as Ultralytics


def relative_diff(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """max |a - b| / max |a|: how far a converted model's raw output is from the source's."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-12))


def _torch_output(pt: Path, x: NDArray[np.float32]) -> NDArray[np.float32]:
    import torch
    from ultralytics.models import YOLO

    model = YOLO(str(pt)).model
    if not isinstance(model, torch.nn.Module):  # Ultralytics types it by its pre-load value (a name or None)
        raise ExportError(f"{pt} did not load as a PyTorch model")
    net = model.float().eval()
    with torch.inference_mode():
        out = net(torch.from_numpy(x))
    return np.asarray((out[0] if isinstance(out, list | tuple) else out).numpy(), np.float32)


def _runtime_output(path: Path, x: NDArray[np.float32]) -> NDArray[np.float32]:
    if path.suffix == ".onnx":
        import onnxruntime as ort

        from reidcam.devices import CPU

        # The export check compares with the .pt run on the CPU: the CPU on both sides.
        sess = ort.InferenceSession(str(path), providers=CPU.providers())
        return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0], np.float32)
    import openvino as ov

    xml = next(path.glob("*.xml")) if path.is_dir() else path
    compiled = ov.Core().compile_model(str(xml), "CPU")
    return np.asarray(compiled(x)[compiled.output(0)], np.float32)


def _exported_path(result: object, fmt: str) -> Path:
    path = Path(str(result))
    if not path.exists():
        raise ExportError(f"Ultralytics reported {path} for the {fmt} export, but it is not there")
    return path


def export_detector(
    weights: Path, out_dir: Path, formats: list[str], imgsz: int = 640, media: Path | None = None
) -> dict[str, object]:
    """Export an Ultralytics ``.pt`` to each of ``formats`` ('onnx', 'openvino') and check it.

    The check runs the .pt in PyTorch and the export in its runtime on the same letterboxed
    640x640 input (bus.jpg when the media folder has it) and compares the raw head outputs;
    comparing final boxes instead would also compare two letterbox policies.

    Raises:
        WeightsError/DependencyError: the .pt or a runtime cannot be loaded;
        ExportError: an export's output differs from the .pt's by more than ``MAX_REL_DIFF``.
    """
    from reidcam.detect.ultralytics_yolo import _prepare_offline_env

    _prepare_offline_env()
    from ultralytics.models import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    local = out_dir / Path(weights).name
    if local.resolve() != Path(weights).resolve():
        shutil.copy2(weights, local)  # Ultralytics writes its exports next to the .pt
    x = check_input(media, imgsz)
    reference = _torch_output(local, x)
    report: dict[str, object] = {"source": str(weights), "check_input": list(x.shape)}
    for fmt in formats:
        extra = {"simplify": False} if fmt == "onnx" else {}  # onnxslim may be missing (no auto-install)
        path = _exported_path(YOLO(str(local)).export(format=fmt, imgsz=imgsz, **extra), fmt)
        diff = relative_diff(reference, _runtime_output(path, x))
        if diff > MAX_REL_DIFF:
            raise ExportError(f"{path.name}: output differs from the .pt's by {diff:.2e} (> {MAX_REL_DIFF})")
        report[fmt] = {"path": str(path), "max_rel_diff_vs_pt": float(f"{diff:.3e}")}
    if local != Path(weights):
        local.unlink(missing_ok=True)
    return report
