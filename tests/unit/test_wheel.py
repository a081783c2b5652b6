"""The wheel holds the product only: no benchmark harness, no test camera server, no tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {
    # benchmarks/harness (load, soak and served-process probes, the raw HTTP client, FAISS indexes)
    "soak.py", "load.py", "served.py", "webclient.py", "rawhttp.py", "procprobe.py",
    "index_bench.py", "index.py",
    # tests/support (the real local camera servers of the fault tests)
    "mjpeg_server.py", "rtsp_server.py", "layers.py",
}  # fmt: skip


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    (wheel,) = out.glob("reidcam-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


def test_wheel_holds_no_benchmark_or_test_server_module(wheel_names: list[str]) -> None:
    modules = [n for n in wheel_names if n.endswith(".py")]
    assert "reidcam/cli.py" in modules and "reidcam/pipeline/runner.py" in modules  # the product is there
    assert [
        n for n in modules if not n.startswith("reidcam/")
    ] == []  # no benchmarks/, tests/, harness/, support/
    assert [n for n in modules if n.rsplit("/", 1)[-1] in NOT_SHIPPED] == []


def test_bench_finds_its_harness_only_in_a_checkout(wheel_names: list[str]) -> None:
    assert "reidcam/perf/harness.py" in wheel_names  # the locator ships and says what a wheel lacks
    assert not any("/harness/" in n for n in wheel_names)
