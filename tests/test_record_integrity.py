"""Records you can trust: atomic writes with normal permissions, duplicates counted once,
malformed files named and skipped, edited split lists hashed, dirty trees recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import pytest

from benchmark.cli import main
from benchmark.environment import git_state
from benchmark.reporting.records import read_records
from tests.reporting_records import make_record, small_set


def test_records_and_leaderboards_get_the_umask_permissions(tmp_path):
    from benchmark.runs.leaderboard import render

    old = os.umask(0o027)
    try:
        path = make_record("supervised", "1_8", 0, 50.0).save(tmp_path)
        render([make_record("supervised", "1_8", 0, 50.0)], tmp_path)
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert oct((tmp_path / "leaderboard_synthetic.md").stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [path.name]  # no temp file left


def test_two_concurrent_writers_into_one_results_dir_lose_nothing(tmp_path):
    records = [make_record("supervised", "1_8", seed, 50.0 + seed) for seed in range(40)]

    def write(part):
        for record in part:
            record.save(tmp_path)

    writers = [threading.Thread(target=write, args=(records[k::2],)) for k in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    loaded, problems = read_records(tmp_path)
    assert problems == []
    assert sorted(r.seed for r in loaded) == list(range(40))


def test_the_same_run_in_two_files_counts_once(tmp_path):
    for record in small_set():
        record.save(tmp_path)
    runs = tmp_path / "runs"
    original = next(runs.glob("synthetic__1_8__cps__seed0__*.json"))
    shutil.copy(original, runs / "zz_copy.json")
    records, problems = read_records(tmp_path)
    assert len(records) == len(small_set())
    assert problems == [f"skipped run record zz_copy.json: the same run (config hash "
                        f"{original.name[-13:-5]}, seed 0) as {original.name}, counted once"]
    # another seed of the same config is a second run, not a duplicate
    data = json.loads(original.read_text())
    (runs / "zz_other_seed.json").write_text(json.dumps({**data, "seed": 7}))
    assert len(read_records(tmp_path)[0]) == len(small_set()) + 1


BAD_RECORDS = {
    "missing field": (lambda good: {k: v for k, v in good.items() if k != "split"},
                      "missing 1 required positional argument: 'split'"),
    "extra field": (lambda good: {**good, "surprise": 1},
                    "got an unexpected keyword argument 'surprise'"),
    "mistyped field": (lambda good: {**good, "seed": "0"}, "seed: expected int, got str"),
    "text mIoU": (lambda good: {**good, "miou": "55.1"}, "miou: expected float, got str"),
    "not an object": (lambda good: [good], "not a JSON object"),
}


@pytest.mark.parametrize("make_bad, reason", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_malformed_record_is_named_and_the_table_still_printed(tmp_path, capsys, make_bad,
                                                                 reason):
    for record in small_set():
        record.save(tmp_path)
    good = json.loads(next((tmp_path / "runs").glob("*cps__seed0*.json")).read_text())
    (tmp_path / "runs" / "bad.json").write_text(json.dumps(make_bad(good)))
    assert main(["table", "--results-dir", str(tmp_path), "--protocol", "synthetic"]) == 0
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("skipped run record bad.json: ") and reason in line
    assert "fixmatch" in captured.out and "n=3" in captured.out


def test_non_utf8_bytes_are_named_and_skipped(tmp_path):
    make_record("supervised", "1_8", 0, 50.0).save(tmp_path)
    (tmp_path / "runs" / "latin1.json").write_bytes(b'{"method": "caf\xe9"}')
    records, (problem,) = read_records(tmp_path)
    assert len(records) == 1
    assert problem.startswith("skipped run record latin1.json: not readable JSON (")
    assert "utf-8" in problem


def test_an_edited_split_list_changes_the_hash_and_the_clean_one_keeps_it(tmp_path,
                                                                         plugins_loaded):
    from benchmark.protocols import get_protocol
    from benchmark.runs.config_builder import build_config, config_hash
    from benchmark.runs.spec import RunSpec

    protocol = get_protocol("synthetic")
    clean_root = protocol.data_root()
    spec = RunSpec("supervised", "synthetic", "1_8", iters=2)
    clean = build_config(spec, clean_root, tmp_path / "w")
    assert "edited_splits_sha256" not in clean  # reference lists: shipped hashes unchanged
    # a copy of the dataset (symlinked images) whose 1_8 list lost its last line
    copy = tmp_path / "copy"
    copy.mkdir()
    for entry in clean_root.iterdir():
        if entry.name != "splits":
            (copy / entry.name).symlink_to(entry)
    shutil.copytree(clean_root / "splits", copy / "splits")
    assert config_hash(build_config(spec, copy, tmp_path / "w")) == config_hash(clean)
    listed = copy / "splits" / "1_8" / "labeled.txt"
    listed.write_text("".join(listed.read_text().splitlines(keepends=True)[:-1]))
    edited = build_config(spec, copy, tmp_path / "w")
    assert edited.edited_splits_sha256 == edited.split_sha256 != clean.split_sha256
    assert config_hash(edited) != config_hash(clean)


def _committed_repo(root, files: dict) -> None:
    """A git repository at ``root`` whose one commit holds ``files`` (path -> text)."""
    def git(*args):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")


def test_a_dirty_tree_is_recorded_with_the_hash_of_its_diff(tmp_path):
    _committed_repo(tmp_path, {"a.py": "x = 1\n"})
    clean = git_state(tmp_path)
    assert clean["dirty"] is False and clean["diff_sha256"] is None
    assert clean["label"] == clean["commit"] and len(clean["commit"]) == 40
    (tmp_path / "a.py").write_text("x = 2\n")
    dirty = git_state(tmp_path)
    assert dirty["dirty"] is True and dirty["label"] == f"{clean['commit']}-dirty"
    (tmp_path / "a.py").write_text("x = 3\n")
    assert len(dirty["diff_sha256"]) == 64
    assert git_state(tmp_path)["diff_sha256"] != dirty["diff_sha256"]


def test_rewritten_results_do_not_make_the_tree_dirty(tmp_path):
    """A sweep rewrites the tracked leaderboard; the next sweep's records stay clean."""
    _committed_repo(tmp_path, {"results/leaderboard.md": "old\n", "a.py": "x = 1\n"})
    (tmp_path / "results" / "leaderboard.md").write_text("new\n")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    dirty = git_state(tmp_path)
    assert dirty["dirty"] is True
    (tmp_path / "results" / "leaderboard.md").write_text("newer\n")
    assert git_state(tmp_path)["diff_sha256"] == dirty["diff_sha256"]
