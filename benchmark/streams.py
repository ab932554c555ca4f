"""The console as a default argument, looked up when it is used.

``def f(stream=sys.stderr)`` binds the ``sys.stderr`` of import time; once that stream is
replaced (a test's capture, a redirected console) and closed, later calls write to a dead
file. :data:`CONSOLE` as the default, resolved by :func:`console_stream` at call time,
avoids it; ``None`` still means silent.
"""

from __future__ import annotations

import sys

CONSOLE = "stderr"


def console_stream(stream):
    """``stream``, with :data:`CONSOLE` resolved to the current ``sys.stderr``."""
    return sys.stderr if stream == CONSOLE else stream
