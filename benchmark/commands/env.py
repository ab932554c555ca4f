"""``python -m benchmark env``: print versions, mmcv ops status and device."""

from __future__ import annotations

import argparse

from benchmark.environment import cpu_model, device_info, mmcv_ops_available, package_versions


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "env",
        help="show package versions, mmcv ops status and the device",
        description="Print the versions of python, torch, mmcv (and whether its compiled "
        "ops import), mmengine, mmseg, timm; the device and CPU threads.",
    )
    parser.add_argument("--short", action="store_true", help="one line")
    return parser


def run(args: argparse.Namespace) -> int:
    versions = package_versions()
    ops = "yes" if mmcv_ops_available() else "no"
    device = device_info()
    if args.short:
        print(" ".join(f"{k}={v}" for k, v in versions.items()) + f" mmcv_ops={ops} "
              f"device={device['device']}")
        return 0
    rows = [(name, version) for name, version in versions.items()]
    rows.append(("mmcv ops", ops))
    rows += [("device", device["device"]), ("cpu", cpu_model()),
             ("cpu threads", device["cpu_threads"]), ("cpu count", device["cpu_count"])]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name + ':':<{width + 1}} {value}")
    return 0 if ops == "yes" else 1
