"""``run`` checks every planned run before training: one line per problem, exit 2.

Also ``--dry-run`` (the plan, nothing trained) and per-method ``--cfg-options``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.runs.preflight import writable_problem

MT = "(meanteacher synthetic/1_8 seed 0)"
NO_KEY = "no such key in the config of 'meanteacher'"


@pytest.fixture(scope="module", autouse=True)
def pretrained_backbone():
    """Build the built-in backbone first, so its one-time notice is not in the output."""
    from benchmark.pretrain import builtin_backbone
    from benchmark.protocols import get_protocol

    builtin_backbone(get_protocol("synthetic"))


@pytest.fixture()
def run_cli(tmp_path, capsys):
    """Run ``python -m benchmark run`` in this process; return (exit code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        defaults = ["--iters", "2", "--results-dir", str(tmp_path / "results"),
                    "--work-dir", str(tmp_path / "work")]
        code = main(["run", *args, *defaults])
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


@pytest.fixture()
def a_file(tmp_path):
    path = tmp_path / "taken"
    path.write_text("")
    return path


CASES = {
    "unknown key": (
        ["--methods", "meanteacher", "--cfg-options", "model.no_such_param=3"],
        [f"--cfg-options model.no_such_param: {NO_KEY}; prefix a deliberately new key with "
         f"'+' (+model.no_such_param=...) {MT}"]),
    "misspelled parameter": (
        ["--methods", "meanteacher", "--cfg-options", "model.consistency_wieght=0.5"],
        [f"--cfg-options model.consistency_wieght: {NO_KEY} (did you mean "
         f"model.consistency_weight?); prefix a deliberately new key with '+' "
         f"(+model.consistency_wieght=...) {MT}"]),
    "misspelled top-level key": (
        ["--methods", "meanteacher", "--cfg-options", "no_such_key=3"],
        [f"--cfg-options no_such_key: {NO_KEY}; prefix a deliberately new key with '+' "
         f"(+no_such_key=...) {MT}"]),
    "value of the wrong type": (
        ["--methods", "meanteacher", "--cfg-options", "optim_wrapper.optimizer.lr=abc"],
        [f"--cfg-options optim_wrapper.optimizer.lr: got str 'abc', expected float "
         f"(default 0.05) {MT}"]),
    "negative seed": (
        ["--methods", "meanteacher", "--seeds=0,-1"],
        ["--seeds expects integers >= 0, got '0,-1'"]),
    "option for a method not in --methods": (
        ["--methods", "meanteacher", "--cfg-options", "unimatch:model.conf_thresh=0.9"],
        ["--cfg-options unimatch:model.conf_thresh: method 'unimatch' is not in --methods "
         "(meanteacher)"]),
    "option without a value": (
        ["--methods", "meanteacher", "--cfg-options", "model.consistency_weight"],
        ["--cfg-options expects [METHOD:]KEY=VALUE, got 'model.consistency_weight'"]),
    "model that does not build": (
        ["--methods", "meanteacher", "--cfg-options", "model.ema_buffers='bad'"],
        ["method 'meanteacher' does not build with its composed config: ValueError: "
         f"ema_buffers must be one of ('ema', 'copy', 'skip'), got bad {MT}"]),
    "method and split incompatible": (
        ["--methods", "supervised,meanteacher", "--split", "full"],
        ["split 'full' has no unlabeled images, so 'meanteacher' cannot run on it; use a "
         "partition (1_16, 1_8, 1_4, 1_2) or 'supervised' (meanteacher synthetic/full seed 0)"]),
    "empty --seeds": (
        ["--methods", "meanteacher", "--seeds="],
        ["--seeds is empty; give at least one seed, e.g. --seeds 0"]),
    "--launcher outside torchrun": (
        ["--methods", "meanteacher", "--launcher", "pytorch"],
        ["--launcher pytorch needs the variables torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR, "
         "MASTER_PORT missing); start it as torchrun --nproc_per_node=N -m benchmark run ..."]),
    "unknown --launcher": (
        ["--methods", "meanteacher", "--launcher", "mpi"],
        ["--launcher must be one of none, pytorch, got 'mpi'"]),
    "unknown --executor": (
        ["--methods", "meanteacher", "--executor", "k8s"],
        ["--executor must be one of inline, local, slurm, got 'k8s'"]),
    "non-positive --slurm-gpus": (
        ["--methods", "meanteacher", "--executor", "slurm", "--slurm-gpus", "0"],
        ["--slurm-gpus must be a positive integer, got 0"]),
    "every problem at once": (
        ["--methods", "meanteacher,nosuch", "--seeds=-2", "--jobs", "0"],
        ["unknown method 'nosuch'; valid methods: cps, cps_nocutmix, cutmix_seg, dars, "
         "fixmatch, meanteacher, random_noise, sop, supervised, u2pl, unimatch, "
         "unimatch_sop, unimatch_v2, upc",
         "--seeds expects integers >= 0, got '-2'",
         "--jobs must be 'auto' or a positive integer, got '0'"]),
}


@pytest.mark.parametrize("args, lines", CASES.values(), ids=CASES.keys())
def test_each_problem_exits_2_with_its_line_and_trains_nothing(run_cli, tmp_path, args, lines):
    code, _, err = run_cli(*args)
    assert code == 2
    assert err.strip().splitlines() == [f"error: {line}" for line in lines]
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_launcher_and_executor_together_are_one_line(run_cli, tmp_path, monkeypatch):
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                        ("MASTER_PORT", "29555")):
        monkeypatch.setenv(name, value)
    code, _, err = run_cli("--methods", "meanteacher", "--launcher", "pytorch", "--executor",
                           "local")
    assert code == 2
    assert err.strip() == ("error: --launcher pytorch trains one run over several processes; "
                           "it cannot be combined with --executor local (drop one of them)")
    assert not (tmp_path / "work").exists()


def test_a_listed_image_missing_from_the_builtin_dataset_is_one_line(run_cli, tmp_path,
                                                                     monkeypatch):
    from benchmark.protocols import get_protocol

    clean = get_protocol("synthetic").data_root()
    copy = tmp_path / "data"
    shutil.copytree(clean, copy, symlinks=True)
    first = (copy / "splits" / "1_8" / "labeled.txt").read_text().split()[0]
    (copy / first).unlink()
    monkeypatch.setattr("benchmark.protocols.Protocol.data_root",
                        lambda self, materialize=True, override=None, must_exist=True: copy)
    code, _, err = run_cli("--methods", "supervised")
    assert code == 2
    count = len((copy / "splits" / "1_8" / "labeled.txt").read_text().splitlines())
    assert err.strip() == (
        f"error: 1 of {count} images listed in 1_8/labeled.txt are missing under {copy} "
        f"(first: {Path(first).stem}); check --data-root and the layout: the built-in "
        "generated dataset (delete its folder to generate it again) "
        "(supervised synthetic/1_8 seed 0)")
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("value, reason", [("[1, 2]", "got a JSON list"),
                                           ("{bad", "Expecting property name")])
def test_malformed_synthetic_spec_is_one_line(run_cli, monkeypatch, value, reason):
    monkeypatch.setenv("SEMISEG_SYNTHETIC", value)
    code, _, err = run_cli("--methods", "supervised,meanteacher")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: invalid SEMISEG_SYNTHETIC={value!r}: {reason}")
    assert line.endswith("(supervised synthetic/1_8 seed 0, meanteacher synthetic/1_8 seed 0)")


@pytest.mark.parametrize("option", ["--work-dir", "--results-dir"])
def test_a_folder_that_is_a_file_stops_before_training(tmp_path, capsys, a_file, option):
    other = "--results-dir" if option == "--work-dir" else "--work-dir"
    code = main(["run", "--methods", "supervised", "--iters", "2", option, str(a_file),
                 other, str(tmp_path / "other")])
    assert code == 2
    assert capsys.readouterr().err.strip() == \
        f"error: {option} {a_file} is a file; pass a directory"
    assert not (tmp_path / "other").exists()


def test_read_only_and_nested_folders_are_reported(tmp_path, a_file, monkeypatch):
    assert writable_problem(a_file / "sub", "--work-dir") == \
        f"--work-dir {a_file / 'sub'} is below the file {a_file}; pass a directory"
    assert writable_problem(tmp_path / "new" / "deeper", "--results-dir") is None
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert writable_problem(tmp_path / "new", "--results-dir") == (
        f"--results-dir {tmp_path / 'new'} is not writable ({tmp_path} is read-only); "
        "pass another folder")


def test_dry_run_prints_the_plan_and_what_skip_done_would_skip(run_cli, tmp_path):
    code, out, err = run_cli("--methods", "supervised,meanteacher", "--seeds", "0,1",
                             "--dry-run")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "plan: 4 run(s); nothing is trained (--dry-run)"
    assert lines[-1] == "4 run(s) would train"
    assert lines[1].startswith("[1/4] supervised synthetic/1_8 seed 0  config ")
    assert all(line.endswith("would train") for line in lines[1:5])
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()
    # a record with the same config hash: --skip-done would skip that run
    digest = lines[1].split("config ")[1].split()[0]
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    (runs / f"synthetic__1_8__supervised__seed0__{digest}.json").write_text("{}")
    code, out, _ = run_cli("--methods", "supervised,meanteacher", "--seeds", "0,1",
                           "--dry-run", "--skip-done")
    assert code == 0
    lines = out.strip().splitlines()
    assert "skipped, record exists" in lines[1] and lines[-1] == "3 run(s) would train"
    code, out, _ = run_cli("--methods", "supervised,meanteacher", "--seeds", "0,1",
                           "--dry-run")
    lines = out.strip().splitlines()
    assert "would train again (record " in lines[1] and "--skip-done skips it" in lines[1]
    assert lines[-1] == "4 run(s) would train"


def test_per_method_options_reach_only_their_method(tmp_path):
    import argparse

    from benchmark.commands.run import plan_runs
    from benchmark.runs.config_builder import config_hash
    from benchmark.runs.leaderboard import experimental_options
    from benchmark.runs.preflight import preflight

    args = argparse.Namespace(
        methods="supervised,meanteacher", split="1_8", protocol=None, seeds="0", iters=2,
        plugins="", jobs="1", backbone=None, pretrained=None, data_root=None,
        cfg_options=["optim_wrapper.optimizer.lr=0.02", "meanteacher:model.consistency_weight=5",
                     "meanteacher:optim_wrapper.optimizer.lr=0.03"])
    specs = plan_runs(args)
    assert [s.cfg_options for s in specs] == [
        {"optim_wrapper.optimizer.lr": 0.02},
        {"optim_wrapper.optimizer.lr": 0.03, "model.consistency_weight": 5}]
    supervised, meanteacher = preflight(specs, tmp_path / "w", tmp_path / "r")
    assert supervised.optim_wrapper.optimizer.lr == 0.02 and "consistency_weight" not in \
        supervised.model
    assert meanteacher.optim_wrapper.optimizer.lr == 0.03
    assert meanteacher.model.consistency_weight == 5
    # the option is part of that run's config hash and names its leaderboard row
    args.cfg_options = ["optim_wrapper.optimizer.lr=0.02"]
    plain = preflight(plan_runs(args), tmp_path / "w", tmp_path / "r")[1]
    assert config_hash(plain) != config_hash(meanteacher)
    assert experimental_options(specs[1].cfg_options) == \
        "model.consistency_weight=5 optim_wrapper.optimizer.lr=0.03"


def test_a_new_key_needs_the_plus_prefix(tmp_path):
    from benchmark.protocols import get_protocol
    from benchmark.runs.cfg_options import parse_cfg_options
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    (option,) = parse_cfg_options(["+model.segmentor.backbone.frozen_stages=1"])
    spec = RunSpec("supervised", "synthetic", "1_8", iters=2,
                   cfg_options={option.key: option.value})
    cfg = build_config(spec, get_protocol("synthetic").data_root(), tmp_path)
    assert cfg.model.segmentor.backbone.frozen_stages == 1
