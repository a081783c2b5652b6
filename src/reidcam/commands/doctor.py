"""``reidcam doctor``: which runtimes, providers, GPUs and versions this install has."""

from __future__ import annotations

import argparse

from reidcam.devices.choice import resolve_device


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "doctor",
        help="print ONNX Runtime providers, CUDA devices, versions and what device auto picks",
        description="Checks the install for the GPU path (docs/performance.md, GPU). With --device, "
        "exits with code 2 when that device is not usable, as search/serve/bench would.",
    )
    d.add_argument("--device", default="auto", help="also resolve this device (auto, cpu, cuda, cuda:N)")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reidcam.devices.probe import doctor_lines, runtime_report

    report = runtime_report(full=True)
    for line in doctor_lines(report):
        print(line)
    choice = resolve_device(args.device, report)  # DeviceError -> exit 2 in cli.main
    print(f"device {args.device} resolves to: {choice.label} ({choice.reason})")
    return 0
