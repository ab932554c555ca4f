"""What a run prints: the leaderboard on stdout, the project's lines on stderr, the rest in
the run's log file (``--verbose`` shows everything)."""

from __future__ import annotations

import logging
import re
import sysconfig
import warnings
from pathlib import Path

import pytest

from benchmark.engine.console import log_to_file
from benchmark.engine.library_warnings import is_library_warning, library_warnings_to_run_log
from benchmark.paths import PACKAGE_ROOT
from tests.test_cli import cli

LIBRARY_FILE = Path(sysconfig.get_paths()["purelib"]) / "somelib" / "module.py"
# Lines of the project on stderr: the backbone built once, the run's progress and outcome.
PROJECT_LINE = re.compile(r"^(\[1/1\] meanteacher synthetic/1_8 seed 0[ :]|building the "
                          r"pretrained backbone|generating the pretraining set|pretraining "
                          r"backbone iter|pretrained backbone ready|runs: \d+ done, )")
# On the console today without the routing (MMEngine's logger, mmseg's UserWarnings).
LIBRARY_MESSAGES = ("The prefix is not set in metric class", '"FileClient" will be deprecated',
                    "``build_loss`` would be deprecated", "When align_corners=True",
                    "is skipped since its requires_grad=False")


def _formatted(path: Path) -> str:
    return warnings.formatwarning("msg", UserWarning, str(path), 3)


def test_library_warnings_are_told_from_the_project_s():
    assert is_library_warning(_formatted(LIBRARY_FILE))
    assert not is_library_warning(_formatted(PACKAGE_ROOT / "runs" / "executor.py"))
    assert not is_library_warning(_formatted(Path("/somewhere/else/my_plugin.py")))


def test_warnings_go_to_the_run_log_and_only_the_project_s_to_stderr(tmp_path, capsys):
    from mmengine.logging import MMLogger

    log_file = tmp_path / "run.log"
    logger = MMLogger.get_instance(f"console_test_{tmp_path.name}", log_file=str(log_file))
    log_to_file(logger)
    with library_warnings_to_run_log():
        warnings.warn_explicit("a library notice", UserWarning, str(LIBRARY_FILE), 1)
        warnings.warn_explicit("a plugin notice", UserWarning, str(tmp_path / "plugin.py"), 1)
        logger.warning("an MMEngine warning")
        logger.error("an MMEngine error")
    for handler in logger.handlers:
        handler.close()
    captured = capsys.readouterr()
    log = log_file.read_text()
    for message in ("a library notice", "a plugin notice", "an MMEngine warning",
                    "an MMEngine error"):
        assert message in log
    assert "a plugin notice" in captured.err and "an MMEngine error" in captured.err
    assert "a library notice" not in captured.err + captured.out
    assert "an MMEngine warning" not in captured.err + captured.out
    assert logging.getLogger("py.warnings").propagate  # restored


def _run(tmp_path: Path, *extra: str):
    result = cli("run", "--methods", "meanteacher", "--split", "1_8", "--iters", "2",
                 "--jobs", "1", "--results-dir", str(tmp_path / "results"), "--work-dir",
                 str(tmp_path / "work"), *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_run_prints_leaderboard_and_project_lines_only(tmp_path):
    result = _run(tmp_path)
    leaderboard = (tmp_path / "results" / "leaderboard_synthetic.md").read_text()
    assert result.stdout.startswith(leaderboard.splitlines()[0])
    assert "mmengine" not in result.stdout and "Warning" not in result.stdout
    for line in re.split(r"[\r\n]", result.stderr):
        assert not line.strip() or PROJECT_LINE.match(line), line
    log = "\n".join(p.read_text() for p in (tmp_path / "work").rglob("*.log"))
    for message in LIBRARY_MESSAGES:
        assert message in log, message


@pytest.mark.slow
def test_verbose_run_shows_mmengine_s_log(tmp_path):
    result = _run(tmp_path, "--verbose")
    assert "mmengine - INFO - " in result.stdout
    assert "mmengine - WARNING - " in result.stdout
