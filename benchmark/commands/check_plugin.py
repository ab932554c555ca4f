"""``python -m benchmark check-plugin``: the generic plugin contract on a plugin's methods."""

from __future__ import annotations

import argparse
import inspect
import tempfile
from pathlib import Path

from benchmark.errors import BenchmarkError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check-plugin", help="run the generic contract checks on a method plugin",
        description="Load a plugin (a .py file or a module name), compose each method it "
        "registers on the built-in protocol (random init, 2 iterations) and run the checks "
        "of tests/test_plugin_contract.py on a real batch: it builds, loss keys are well "
        "formed and finite, the unsupervised loss reaches the student, the optimiser and "
        "the gradient leave the teacher alone, the hidden ground truth changes nothing, "
        "predict works. Prints PASS/FAIL per check; exit 0 if all pass, 1 otherwise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("plugin", help="plugin file (path/to/my_method.py) or module name")
    parser.add_argument("--methods", default="",
                        help="comma-separated methods to check (default: all the plugin "
                        "registers)")
    parser.add_argument("--split", default="1_8", help="split of the built-in protocol")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides applied to every checked method")
    return parser


def plugin_methods(plugin: str) -> list[str]:
    """Names of the registered methods whose class is defined by ``plugin``."""
    from benchmark.registry import registered_methods

    if plugin.endswith(".py"):
        path = Path(plugin).resolve()
        return [name for name, info in registered_methods().items()
                if Path(inspect.getfile(info.cls)).resolve() == path]
    return [name for name, info in registered_methods().items()
            if info.cls.__module__ == plugin or info.cls.__module__.startswith(plugin + ".")]


def run(args: argparse.Namespace) -> int:
    import logging
    import warnings

    from mmengine.logging import MMLogger
    from mmseg.utils import register_all_modules

    from benchmark.contract import compose_check_config, run_checks
    from benchmark.plugins import load_all
    from benchmark.registry import get_method
    from benchmark.runs.cfg_options import options_for, parse_cfg_options

    register_all_modules(init_default_scope=True)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-tensor init lines
    warnings.simplefilter("ignore", UserWarning)  # library deprecation/alignment notices
    load_all([args.plugin])
    names = [m.strip() for m in args.methods.split(",") if m.strip()] \
        or plugin_methods(args.plugin)
    if not names:
        raise BenchmarkError(f"plugin '{args.plugin}' registers no method; decorate a "
                             "SemiSegmentor subclass with @register_method")
    # the contract does not depend on the backbone's initialisation: skip pretraining
    options = {"pretrained": "none", **options_for(parse_cfg_options(args.cfg_options), "")}
    failed = 0
    for name in names:
        info = get_method(name)
        print(f"{name} ({info.cls.__module__}.{info.cls.__name__}, config {info.config})")
        with tempfile.TemporaryDirectory(prefix="check-plugin-") as work:
            try:
                cfg = compose_check_config(name, Path(work), args.split, options)
            except BenchmarkError as err:
                print(f"  FAIL composes: {err}".replace("\n", "; "))
                failed += 1
                continue
            for verdict in run_checks(info, cfg):
                print(f"  {'PASS' if verdict.passed else 'FAIL'} {verdict.check}"
                      f"{': ' + verdict.reason if verdict.reason else ''}")
                failed += not verdict.passed
    print(f"{failed} check(s) failed" if failed else "all checks passed")
    return 1 if failed else 0
