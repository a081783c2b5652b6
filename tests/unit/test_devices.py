"""performance.device: resolution against faked runtime reports, providers, and the CPU-only machine.

The faked reports stand for what ``onnxruntime.get_available_providers()`` and torch say on
the machines users have: the CPU wheel, onnxruntime-gpu with and without a GPU, torch with
one or two GPUs. The tests at the end run against the real runtimes of this machine (no GPU
in CI): ``auto`` is the CPU and an explicit ``cuda`` exits with code 2 and says why.
"""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from reidcam.cli import main
from reidcam.config import AppConfig, PerformanceConfig
from reidcam.config.schema import DetectorConfig, ReidConfig
from reidcam.core.errors import ConfigError
from reidcam.detect import detector_backend
from reidcam.devices import (
    CPU,
    DeviceChoice,
    DeviceError,
    Placement,
    RuntimeReport,
    ort_providers,
    parse_device,
    resolve_device,
)
from reidcam.devices.probe import doctor_lines, nvidia_device_nodes, placement_for, runtime_report
from reidcam.reid.backends import backend_for

CPU_WHEEL = RuntimeReport(ort_providers=("AzureExecutionProvider", "CPUExecutionProvider"))
ORT_GPU = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
ORT_GPU_NO_GPU = RuntimeReport(ort_providers=ORT_GPU, torch_cuda_build=True)
TORCH_ONE_GPU = RuntimeReport(torch_cuda_devices=("NVIDIA H200",), torch_cuda_build=True, nvidia_devices=1)
TORCH_TWO_GPUS = RuntimeReport(torch_cuda_devices=("A", "B"), torch_cuda_build=True, nvidia_devices=2)
ORT_GPU_CPU_TORCH = RuntimeReport(ort_providers=ORT_GPU, nvidia_devices=1)  # torch is a CPU build


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A GPU seen by this machine's OS: the "no GPU here" tests below do not apply.
HAS_GPU = nvidia_device_nodes() > 0


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("auto", ("auto", None)), ("CPU", ("cpu", None)), ("cuda", ("cuda", None)), ("cuda:1", ("cuda", 1))],
)
def test_parse_device(text: str, parsed: tuple[str, int | None]) -> None:
    assert parse_device(text) == parsed


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "cuda0", "", "mps"])
def test_parse_device_refuses_other_names(bad: str) -> None:
    with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
        parse_device(bad)


@pytest.mark.parametrize(
    ("report", "kind"),
    [
        (CPU_WHEEL, "cpu"),
        (ORT_GPU_NO_GPU, "cpu"),  # onnxruntime-gpu lists CUDA without a GPU: not believed
        (TORCH_ONE_GPU, "cuda"),
        (ORT_GPU_CPU_TORCH, "cuda"),  # a GPU node and onnxruntime-gpu: usable through ORT
        (RuntimeReport(ort_providers=ORT_GPU), "cpu"),  # no GPU node, CPU torch: nothing to run on
    ],
)
def test_auto_picks_cuda_only_when_a_runtime_can_use_a_gpu(report: RuntimeReport, kind: str) -> None:
    choice = resolve_device("auto", report)
    assert choice.kind == kind
    assert choice.torch == ("cuda:0" if kind == "cuda" else "cpu")
    assert choice.ultralytics == ("0" if kind == "cuda" else "cpu")


@pytest.mark.parametrize("report", [CPU_WHEEL, ORT_GPU_NO_GPU, TORCH_ONE_GPU, TORCH_TWO_GPUS])
def test_cpu_is_the_cpu_whatever_is_installed(report: RuntimeReport) -> None:
    assert resolve_device("cpu", report) == DeviceChoice("cpu", "cpu", reason="asked for")


@pytest.mark.parametrize("report", [CPU_WHEEL, ORT_GPU_NO_GPU])
@pytest.mark.parametrize("asked", ["cuda", "cuda:0"])
def test_explicit_cuda_without_a_gpu_is_an_error_naming_what_was_found(
    report: RuntimeReport, asked: str
) -> None:
    with pytest.raises(DeviceError) as err:
        resolve_device(asked, report)
    msg = str(err.value)
    assert f"'{asked}'" in msg and "no CUDA device" in msg
    assert ", ".join(report.ort_providers) in msg and "reidcam doctor" in msg


def test_cuda_index_must_exist() -> None:
    assert resolve_device("cuda:1", TORCH_TWO_GPUS).torch == "cuda:1"
    with pytest.raises(DeviceError, match=r"only 1 CUDA device\(s\)"):
        resolve_device("cuda:1", TORCH_ONE_GPU)


def test_providers_on_the_cpu_are_the_cpu_alone() -> None:
    assert ort_providers(CPU.choice, ORT_GPU) == ["CPUExecutionProvider"]
    assert CPU.providers() == ["CPUExecutionProvider"]


def test_providers_on_a_gpu_chain_tensorrt_cuda_cpu_with_the_index() -> None:
    gpu1 = DeviceChoice("cuda:1", "cuda", 1)
    assert ort_providers(gpu1, ORT_GPU, fp16=True) == [
        ("TensorrtExecutionProvider", {"device_id": 1, "trt_fp16_enable": True}),
        ("CUDAExecutionProvider", {"device_id": 1}),
        "CPUExecutionProvider",
    ]
    no_trt = ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert ort_providers(gpu1, no_trt) == [
        ("CUDAExecutionProvider", {"device_id": 1}),
        "CPUExecutionProvider",
    ]


def test_providers_on_a_gpu_with_the_cpu_wheel_refuse() -> None:
    gpu = DeviceChoice("cuda", "cuda", 0)
    with pytest.raises(DeviceError, match="install onnxruntime-gpu"):
        ort_providers(gpu, CPU_WHEEL.ort_providers)


def test_onnx_models_run_on_torch_when_the_gpu_has_no_onnxruntime_cuda() -> None:
    gpu = DeviceChoice("cuda", "cuda", 0)
    torch_gpu = Placement(gpu, CPU_WHEEL.ort_providers, fp16=True)
    ort_gpu = Placement(gpu, ORT_GPU)
    yolox, osnet = Path("yolox_nano.onnx"), Path("osnet_x0_25_msmt17.onnx")
    assert detector_backend(DetectorConfig(), yolox, torch_gpu) == "torch"
    assert detector_backend(DetectorConfig(), yolox, ort_gpu) == "onnxruntime"
    assert detector_backend(DetectorConfig(), yolox, CPU) == "onnxruntime"
    assert backend_for(ReidConfig(), osnet, torch_gpu) == "torch"
    assert backend_for(ReidConfig(), osnet, ort_gpu) == "onnxruntime"
    assert backend_for(ReidConfig(), osnet, CPU) == "onnxruntime"
    assert torch_gpu.label == "cuda:0 fp16" and ort_gpu.label == "cuda:0 fp32" and CPU.label == "cpu"


def test_precision_auto_is_fp32_and_fp16_is_opt_in_on_a_gpu() -> None:
    assert placement_for("auto", "auto", TORCH_ONE_GPU).fp16 is False
    assert placement_for("cuda", "fp16", TORCH_ONE_GPU).fp16 is True
    assert placement_for("cuda", "fp32", TORCH_ONE_GPU).fp16 is False
    assert placement_for("auto", "auto", CPU_WHEEL).fp16 is False
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        placement_for("cpu", "fp16", TORCH_ONE_GPU)


def test_config_accepts_the_device_names_and_refuses_others() -> None:
    assert PerformanceConfig().device == "auto" and PerformanceConfig().precision == "auto"
    assert AppConfig.model_validate({"performance": {"device": "cuda:3"}}).performance.device == "cuda:3"
    with pytest.raises(ValidationError):
        PerformanceConfig(device="gpu")


def test_nvidia_device_nodes_count_gpus_not_control_nodes(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    assert nvidia_device_nodes(tmp_path) == 2
    assert nvidia_device_nodes(tmp_path / "missing") == 0


def test_doctor_lines_say_what_auto_picks() -> None:
    lines = doctor_lines(ORT_GPU_CPU_TORCH)
    assert "device auto resolves to: cuda:0 (auto: 1 CUDA device(s) found)" in lines
    assert any(line.startswith("onnxruntime providers: TensorrtExecutionProvider") for line in lines)
    assert not any("run on torch" in line for line in lines)
    assert any("run on torch" in line for line in doctor_lines(TORCH_ONE_GPU))


# ---- this machine's real runtimes (no GPU in CI) ------------------------------------------


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
def test_auto_resolves_to_the_cpu_here() -> None:
    report = runtime_report()
    assert report.cuda_count == 0
    assert placement_for("auto", "auto", report) == Placement(
        DeviceChoice("auto", "cpu", reason="auto: no CUDA device found"), report.ort_providers, False
    )


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
def test_doctor_runs_and_exits_2_for_a_missing_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime providers:" in out and "device auto resolves to: cpu" in out
    assert main(["doctor", "--device", "cuda"]) == 2
    assert "no CUDA device is usable here" in capsys.readouterr().err


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
@pytest.mark.parametrize("command", ["search", "bench", "serve"])
def test_cuda_without_a_gpu_exits_2_with_the_message(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a silent CPU run: the command stops before loading any model."""
    monkeypatch.setenv("REIDCAM_MEDIA_DIR", str(tmp_path))
    query, frames = tmp_path / "q.jpg", tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(query), np.full((128, 64, 3), 120, np.uint8))
    cv2.imwrite(str(frames / "000.jpg"), np.zeros((64, 64, 3), np.uint8))
    argv = {
        "search": ["search", "--query", str(query), "--source", f"a={frames}", "--out", str(tmp_path / "o")],
        "bench": ["bench", "--media-dir", str(tmp_path)],
        "serve": [
            "serve",
            "--source",
            f"a={frames}",
            "--port",
            str(_free_port()),
            "--data-dir",
            str(tmp_path / "o"),
        ],
    }[command]
    assert main([*argv, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("reidcam: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "device 'cuda' asked for, but no CUDA device is usable here" in lines[0]
    assert not (tmp_path / "o").exists()


def test_provider_choice_against_the_installed_onnxruntime() -> None:
    """What this install's onnxruntime reports drives the chain, and the CPU chain opens a session."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    available = tuple(ort.get_available_providers())
    assert runtime_report().ort_providers == available
    gpu = DeviceChoice("cuda", "cuda", 0)
    if "CUDAExecutionProvider" in available:
        chain = ort_providers(gpu, available)
        assert chain[-2:] == [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    else:
        with pytest.raises(DeviceError, match="install onnxruntime-gpu"):
            ort_providers(gpu, available)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    model.opset_import[0].version = 13
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=CPU.providers())
    assert session.get_providers() == ["CPUExecutionProvider"]
    out = session.run(None, {"x": np.array([[-1.0, 2.0]], np.float32)})[0]
    np.testing.assert_array_equal(out, [[0.0, 2.0]])
