"""MMEngine's log on the run's file, not on the console.

A run's console carries the project's own lines (progress, per-run outcome, leaderboard);
MMEngine's log (environment, config, per-iteration lines, library warnings such as
``"FileClient" will be deprecated`` or ``Advance dataloader N steps``) goes in full to the
log file in the run's work dir. Errors still reach the console (standard error).
``--verbose`` uses MMEngine's own logger set-up instead, which shows everything.
"""

from __future__ import annotations

import logging
import sys
from functools import cache

#: MMEngine log records from this level on still reach the console.
CONSOLE_LEVEL = logging.ERROR


def log_to_file(logger: logging.Logger) -> None:
    """Keep ``logger``'s console handler to errors on standard error; files log everything.

    Args:
        logger: An ``MMLogger``, whose console handler (a ``StreamHandler`` on standard
            output) and file handler MMEngine set up.
    """
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.setLevel(min(handler.level, logging.INFO))
        elif isinstance(handler, logging.StreamHandler):
            handler.setLevel(max(handler.level, CONSOLE_LEVEL))
            if not getattr(handler.stream, "closed", False):  # e.g. a finished capture
                handler.setStream(sys.stderr)


class FileLogMixin:
    """Runner mixin: the run's logger is set up by MMEngine, then :func:`log_to_file`.

    Done where the Runner builds its logger, so the lines logged while the rest of the
    Runner is built (environment, config, model) are in the file and off the console too.
    """

    def build_logger(self, *args, **kwargs):
        """MMEngine's logger of the run, with the console kept to errors."""
        logger = super().build_logger(*args, **kwargs)
        log_to_file(logger)
        return logger


@cache
def file_logging(runner_cls: type) -> type:
    """``runner_cls`` with :class:`FileLogMixin` (one subclass per class).

    Args:
        runner_cls: An MMEngine ``Runner`` class.

    Returns:
        A subclass of ``runner_cls`` whose log stays off the console (errors aside).
    """
    return type(f"FileLogging{runner_cls.__name__}", (FileLogMixin, runner_cls), {})
