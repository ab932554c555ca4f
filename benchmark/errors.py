"""User-facing errors of the benchmark suite.

A :class:`BenchmarkError` is bad input or a missing resource that the user can fix.
The CLI prints its message on one line and exits with code 2, without a traceback.
"""


class BenchmarkError(Exception):
    """An error the user can fix; the message names the fix."""


class NonFiniteLossError(BenchmarkError):
    """Training produced a NaN or infinite loss."""
