"""``reproduce``: re-train a record's config, refuse other configs or code, report the delta."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.errors import BenchmarkError
from tests.reporting_records import make_record


def _benchmark(*args: str) -> subprocess.CompletedProcess:
    # the environment of the moment: the session fixture points it at the small data set
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 4-iteration supervised record in a results folder of its own."""
    root = tmp_path_factory.mktemp("reproduce")
    done = _benchmark("run", "--methods", "supervised", "--split", "1_8", "--iters", "4",
                      "--jobs", "1", "--results-dir", str(root / "results"),
                      "--work-dir", str(root / "work"))
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = (root / "results" / "runs").glob("*.json")
    return record


@pytest.mark.slow
def test_rerun_of_a_record_lands_on_the_same_number(trained, tmp_path):
    results = trained.parents[1]
    done = _benchmark("reproduce", str(trained), "--results-dir", str(results),
                      "--work-dir", str(tmp_path / "work"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(trained.read_text())
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert lines["record"].endswith(f"mIoU {record['miou']:.2f} (1 thread, {record['cpu']})")
    assert lines["delta"] == "+0.00 mIoU"
    assert lines["note"] == "bit-identical result"
    assert lines["spread"].startswith("the row has fewer than 2 seeds")
    rerun = json.loads((results / "reproductions" / "runs" / trained.name).read_text())
    assert rerun["config_hash"] == record["config_hash"] and rerun["miou"] == record["miou"]
    assert len(list((results / "runs").glob("*.json"))) == 1  # the leaderboard's untouched


def _edited(trained: Path, tmp_path: Path, **changes) -> Path:
    data = {**json.loads(trained.read_text()), **changes}
    path = tmp_path / trained.name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.slow
def test_another_config_is_refused_before_training_with_one_line(trained, tmp_path):
    record = json.loads(trained.read_text())
    edited = _edited(trained, tmp_path, config_hash="0" * 64,
                     pretrained={**record["pretrained"], "sha256": "f" * 64})
    done = _benchmark("reproduce", str(edited), "--results-dir", str(tmp_path),
                      "--work-dir", str(tmp_path / "work"))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    name = trained.name.replace(record["config_hash"][:8], "00000000")
    assert line.startswith(f"error: cannot reproduce {name}: this code composes "
                           f"config #{record['config_hash'][:8]}, not the record's #00000000")
    assert "the backbone checkpoint differs" in line
    assert not (tmp_path / "reproductions").exists()


def _root_commit() -> str | None:
    found = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], capture_output=True,
                           text=True, cwd=Path(__file__).parents[1])
    return found.stdout.split()[0] if found.returncode == 0 and found.stdout else None


@pytest.mark.slow
def test_changed_training_code_is_refused_unless_allowed(trained, tmp_path):
    root = _root_commit()
    if root is None:
        pytest.skip("not a git checkout with history")
    edited = _edited(trained, tmp_path, git_commit=root, git_dirty=False, git_diff_sha256=None)
    done = _benchmark("reproduce", str(edited), "--results-dir", str(tmp_path), "--dry-run",
                      "--work-dir", str(tmp_path / "work"))
    assert done.returncode == 2
    assert f"the training code changed since its commit {root[:12]}" in done.stderr
    assert "--allow-code-change" in done.stderr
    allowed = _benchmark("reproduce", str(edited), "--results-dir", str(tmp_path),
                         "--dry-run", "--allow-code-change", "--work-dir", str(tmp_path / "w"))
    assert allowed.returncode == 0, allowed.stderr
    assert "composes again; ready to rerun" in allowed.stdout


def test_summary_places_the_delta_in_the_row_spread():
    from benchmark.runs.reproduce import Reproduction, row_spread

    records = [make_record("unimatch", "1_8", k, v, threads=1, cpu="A")
               for k, v in enumerate([50.0, 54.0, 52.0])]
    std, seeds = row_spread(records + [make_record("unimatch", "1_4", 0, 70.0)], records[0])
    assert (std, seeds) == (pytest.approx(2.0), 3)
    rerun = make_record("unimatch", "1_8", 0, 51.0, threads=2, cpu="A")
    text = Reproduction(records[0], rerun, std, seeds).summary()
    assert "delta   +1.00 mIoU" in text
    assert "seed std is 2.00 over 3 seeds: |delta| = 0.50 std, within one seed std" in text
    assert "thread count or CPU kind differ" in text
    far = make_record("unimatch", "1_8", 0, 45.0, threads=1, cpu="A")
    assert "beyond two seed stds" in Reproduction(records[0], far, std, seeds).summary()


def test_a_record_is_found_by_method_split_and_seed_or_named_ambiguous():
    from benchmark.runs.reproduce import find_record

    a = make_record("cps", "1_8", 0, 50.0, config_hash="a" * 64)
    b = make_record("cps", "1_8", 0, 51.0, config_hash="b" * 64)
    assert find_record([a], "cps", "1_8", 0, None) is a
    with pytest.raises(BenchmarkError, match="several configs of cps at 1_8 seed 0"):
        find_record([a, b], "cps", "1_8", 0, None)
    with pytest.raises(BenchmarkError, match="no record of cps at 1_4 seed 0"):
        find_record([a], "cps", "1_4", 0, None)


@pytest.mark.slow
def test_checkout_trains_with_the_records_commit(trained, tmp_path):
    record = json.loads(trained.read_text())
    if record["git_dirty"] or record["git_commit"] == "unknown":
        pytest.skip("the record was made from a modified tree (run from a clean commit)")
    work = tmp_path / "work"
    done = _benchmark("reproduce", str(trained), "--checkout", "--results-dir",
                      str(trained.parents[1]), "--work-dir", str(work))
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "delta   +0.00 mIoU" in done.stdout
        assert (work / f"checkout-{record['git_commit'][:12]}" / "benchmark").is_dir()
    finally:
        subprocess.run(["git", "worktree", "remove", "--force",
                        str(work / f"checkout-{record['git_commit'][:12]}")],
                       cwd=Path(__file__).parents[1], capture_output=True)


def test_the_run_command_of_a_record_leaves_out_options_its_code_lacks(tmp_path):
    from benchmark.runs.reproduce import run_command

    record = make_record("sop", "1_8", 2, 50.0, iterations=2000,
                         cfg_options={"model.sop_weight": 0, "x.flag": False})
    full = run_command(record, tmp_path / "r", tmp_path / "w")
    assert full[full.index("run"):] == [
        "run", "--methods", "sop", "--protocol", "synthetic", "--split", "1_8", "--seeds",
        "2", "--iters", "2000", "--jobs", "1", "--results-dir", str(tmp_path / "r"),
        "--work-dir", str(tmp_path / "w"), "--cfg-options", "model.sop_weight=0",
        "x.flag=False"]
    older = run_command(record, tmp_path / "r", tmp_path / "w", known_options="--protocol P")
    assert "--jobs" not in older and "--protocol" in older and len(older) == len(full) - 2
