"""Where inference runs: the CPU or an NVIDIA GPU (``performance.device``).

``choice`` is pure logic (parse, resolve, ONNX Runtime providers) tested against faked runtime
reports; ``probe`` asks the installed runtimes what they offer. Importing this package imports
neither onnxruntime nor torch.
"""

from reidcam.devices.choice import (
    CPU,
    DeviceChoice,
    DeviceError,
    Placement,
    RuntimeReport,
    ort_providers,
    parse_device,
    resolve_device,
)

__all__ = [
    "CPU",
    "DeviceChoice",
    "DeviceError",
    "Placement",
    "RuntimeReport",
    "ort_providers",
    "parse_device",
    "resolve_device",
]
