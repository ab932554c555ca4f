"""``scripts/bootstrap.sh`` on a ready environment checks it in one step and installs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def _bootstrap(venv: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VENV": str(venv)}
    return subprocess.run(["bash", str(REPO / "scripts" / "bootstrap.sh")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not (VENV / ".project-installed").exists(),
                    reason="the test environment was not made by scripts/bootstrap.sh")
def test_ready_venv_takes_the_fast_path():
    result = _bootstrap(VENV)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("[bootstrap] ready, nothing to install: python=")
    assert "mmcv_ops=yes" in lines[0]
