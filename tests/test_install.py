"""A regular (non-editable) install works on its own: configs and split lists ship with it.

The project is installed without network into a temporary folder (``pip install
--no-deps --no-build-isolation --no-index --target``) from a copy of the files a source
distribution holds, and used from a working directory outside the repository with only
that folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What the build reads: the metadata, the README it names, and the two packages.
SOURCES = ("pyproject.toml", "README.md", "benchmark", "methods")


def _install(tmp_path: Path) -> Path:
    source, target = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target),
         str(source)],
        check=True, capture_output=True, text=True,
    )
    return target


def _python(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


@pytest.mark.slow
def test_non_editable_install_lists_and_runs(tmp_path):
    site = _install(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _python(["-c", "import benchmark, methods; print(benchmark.__file__); "
                           "print(methods.__file__)"], site, elsewhere)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).resolve().is_relative_to(site.resolve()), where.stdout
    assert (site / "benchmark" / "configs" / "methods" / "supervised.py").is_file()
    assert (site / "benchmark" / "split_lists" / "MANIFEST.json").is_file()

    listed = _python(["-m", "benchmark", "list"], site, elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert "unimatch" in listed.stdout and "pascal_classic" in listed.stdout

    run = _python(["-m", "benchmark", "run", "--methods", "supervised", "--split", "1_8",
                   "--iters", "2", "--jobs", "1", "--results-dir", "results",
                   "--work-dir", "work_dirs"], site, elsewhere)
    assert run.returncode == 0, run.stderr
    records = list((elsewhere / "results" / "runs").glob("*.json"))
    assert len(records) == 1, run.stderr
    record = json.loads(records[0].read_text())
    assert record["iterations"] == 2 and record["method"] == "supervised"
    # not the git commit of whichever repository the environment happens to sit in
    assert record["git_commit"] == "unknown"
