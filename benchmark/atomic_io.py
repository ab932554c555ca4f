"""Atomic file writes: readers see the old file or the new one, never a torn one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is created with ``open(..., "x")``, so it gets the permissions every
    other output gets (``0o666`` minus the umask), unlike ``tempfile.mkstemp``'s ``0o600``.
    Concurrent writers of one path each rename a complete file; the last rename wins.

    Args:
        path: The file to (re)place.
        text: Its new content (UTF-8).

    Returns:
        ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
