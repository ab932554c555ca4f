"""Python warnings of the libraries go to the run's log file, the project's to the console.

While :func:`library_warnings_to_run_log` is active, ``logging.captureWarnings`` turns every
warning into a record of the ``py.warnings`` logger. A warning raised in an installed
library or the standard library (mmseg's ``build_loss would be deprecated``, its
``align_corners`` notice, torch's deprecations) is written to the log file of the current
MMEngine run only; any other warning (the ``benchmark`` and ``methods`` packages, an
external plugin, the user's code) is also printed on standard error, as Python would.
"""

from __future__ import annotations

import logging
import re
import site
import sys
import sysconfig
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from benchmark.paths import BUILTIN_METHODS_ROOT, PACKAGE_ROOT

#: ``warnings.formatwarning`` output starts with ``<file>:<line>: <Category>: ``.
_ORIGIN = re.compile(r"^(?P<file>.+?):\d+: \w+: ")


@lru_cache(maxsize=1)
def _library_roots() -> tuple[Path, ...]:
    """Folders of the standard library and of the installed third-party packages."""
    paths = sysconfig.get_paths()
    roots = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    roots += [*getattr(site, "getsitepackages", list)(), site.getusersitepackages()]
    return tuple(dict.fromkeys(Path(root).resolve() for root in roots if root))


def is_library_warning(text: str) -> bool:
    """Whether a formatted warning was raised in library code (not this project's).

    Args:
        text: The warning as ``warnings.formatwarning`` renders it.
    """
    match = _ORIGIN.match(text)
    if match is None:
        return False
    origin = Path(match["file"]).resolve()
    if origin.is_relative_to(PACKAGE_ROOT) or origin.is_relative_to(BUILTIN_METHODS_ROOT):
        return False
    return any(origin.is_relative_to(root) for root in _library_roots())


class _RunLogHandler(logging.Handler):
    """Write each warning to the current MMEngine run's log file; the project's also to stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.console = logging.StreamHandler(sys.stderr)
        self.console.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        from mmengine.logging import MMLogger

        for handler in MMLogger.get_current_instance().handlers:
            if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
                handler.handle(record)
        if not is_library_warning(record.getMessage()):
            self.console.handle(record)


@contextmanager
def library_warnings_to_run_log() -> Iterator[None]:
    """Route Python warnings as described in the module docstring while the block runs.

    The warning filters, ``warnings.showwarning`` and the ``py.warnings`` logger are
    restored afterwards. A library warning raised while no run has a log file (before the
    first Runner is built) is dropped.
    """
    target = logging.getLogger("py.warnings")
    handler, propagate = _RunLogHandler(), target.propagate
    with warnings.catch_warnings():
        logging.captureWarnings(True)
        target.addHandler(handler)
        target.propagate = False
        try:
            yield
        finally:
            target.removeHandler(handler)
            target.propagate = propagate
            logging.captureWarnings(False)
