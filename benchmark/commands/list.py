"""``python -m benchmark list``: registered methods and protocols."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from benchmark.protocols import PROTOCOLS
from benchmark.registry import registered_methods


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "list", help="list method plugins and protocols",
        description="List registered methods (name, description, paper) and protocols "
        "(name, splits). With --verbose, also each method's hyperparameters and config.")
    parser.add_argument("--plugins", default="",
                        help="comma-separated external plugin modules or .py files")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show hyperparameter defaults and config paths")
    return parser


def method_defaults(info) -> dict:
    """The method's hyperparameters: its leaf config's model values over class defaults."""
    from mmengine.config import Config

    values = dict(info.hyperparameters)
    if info.config.is_file():
        model = Config.fromfile(info.config).to_dict().get("model", {})
        values.update({k: v for k, v in model.items() if k != "type"})
    return values


def run(args: argparse.Namespace) -> int:
    from benchmark.plugins import load_all

    load_all([p for p in args.plugins.split(",") if p.strip()])
    rows = []
    for info in registered_methods().values():
        row = [info.name, info.description, info.paper]
        if args.verbose:
            params = ", ".join(f"{k}={v!r}" for k, v in method_defaults(info).items())
            row += [params or "-", str(info.config)]
        rows.append(row)
    headers = ["method", "description", "paper"]
    if args.verbose:
        headers += ["hyperparameters (leaf config over class defaults)", "config"]
    print("Methods")
    print(tabulate(rows, headers=headers, tablefmt="simple"))
    print("Method notes (paper, loss, defaults, decisions where the paper is silent): "
          "docs/methods/README.md and one page per method beside it")
    print("\nProtocols")
    print(tabulate([[p.name, ", ".join(p.split_names), p.description] for p in PROTOCOLS.values()],
                   headers=["protocol", "splits", "description"], tablefmt="simple"))
    return 0
