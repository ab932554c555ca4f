"""``python -m benchmark reproduce``: re-train a stored record's config and compare."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import DEFAULT_RESULTS_DIR


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reproduce", help="re-train the config of a stored record and compare the mIoU",
        description="Re-trains exactly the config of one record (same config hash: method, "
        "split, seed, iterations, options, backbone checkpoint, data), with the record's "
        "thread count, then prints the record's mIoU, the new one, the difference and where "
        "it stands against the seed spread of the record's leaderboard row. It refuses, "
        "before training, when this code composes another config than the record's, or when "
        "the code that trains (methods, models, data, engine, configs) changed since the "
        "record's commit; --checkout then trains it with the code of that commit instead (a "
        "git worktree). The rerun's record goes to RESULTS_DIR/reproductions/, never "
        "into the leaderboard's records.")
    parser.add_argument("record", nargs="?", type=Path, default=None,
                        help="a record file (results/runs/*.json); or name it with --method, "
                        "--split and --seed")
    parser.add_argument("--method", default=None, help="method of the record to rerun")
    parser.add_argument("--split", default=None, help="split of the record to rerun")
    parser.add_argument("--seed", type=int, default=None, help="seed of the record to rerun")
    parser.add_argument("--protocol", default=None,
                        help="protocol of the record (when several protocols have the split)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="where the records are (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=Path("work_dirs") / "reproduce",
                        help="parent of the rerun's work dir (default: %(default)s)")
    parser.add_argument("--plugins", default="",
                        help="plugin files or modules the record's method needs")
    parser.add_argument("--allow-code-change", action="store_true",
                        help="rerun even if the training code changed since the record's "
                        "commit (the result then measures the change too)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads of the rerun (default: the record's; records "
                        "older than the field need it)")
    parser.add_argument("--checkout", action="store_true",
                        help="train with the code of the record's commit (a git worktree under "
                        "--work-dir), for records older than the current code")
    parser.add_argument("--dry-run", action="store_true",
                        help="check that the record can be reproduced, then stop")
    return parser


def run(args: argparse.Namespace) -> int:
    from benchmark.runs.record import load_records, read_record

    if args.record is None and None in (args.method, args.split, args.seed):
        raise BenchmarkError("name the record: a file (results/runs/*.json), or --method, "
                             "--split and --seed")
    if args.record is not None:
        record = read_record(args.record)
    else:
        from benchmark.runs.reproduce import find_record

        record = find_record(load_records(args.results_dir), args.method, args.split,
                             args.seed, args.protocol)
    if args.checkout:
        return _reproduce_at_commit(record, args)
    return _reproduce(record, args)


def _reproduce_at_commit(record, args: argparse.Namespace) -> int:
    """Train the record's run with its commit's code in a git worktree, then compare."""
    import os
    import subprocess

    from benchmark.paths import PACKAGE_ROOT
    from benchmark.runs.record import load_records
    from benchmark.runs.reproduce import Reproduction, row_spread, run_command

    if record.git_commit in ("", "unknown") or record.git_dirty:
        raise BenchmarkError(f"--checkout needs a record made from a clean commit; "
                             f"{record.filename} names '{record.git_commit}'")
    commit = record.git_commit
    checkout = (Path(args.work_dir) / f"checkout-{commit[:12]}").resolve()
    out = (Path(args.results_dir) / "reproductions" / f"at-{commit[:12]}").resolve()
    env = {**os.environ, "OMP_NUM_THREADS": str(_threads(record, args))}
    if args.dry_run:
        command = run_command(record, out, (Path(args.work_dir) / "runs").resolve())
        print(f"{record.filename}: would run in a checkout of {commit[:12]} ({checkout}): "
              f"{' '.join(command[1:])}")
        return 0
    if not checkout.is_dir():
        made = subprocess.run(["git", "worktree", "add", "--detach", str(checkout), commit],
                              cwd=PACKAGE_ROOT.parent, capture_output=True, text=True)
        if made.returncode:
            raise BenchmarkError(f"cannot check out {commit[:12]}: {made.stderr.strip()}")
    known = subprocess.run([sys.executable, "-m", "benchmark", "run", "--help"], cwd=checkout,
                           env=env, capture_output=True, text=True).stdout
    command = run_command(record, out, (Path(args.work_dir) / "runs").resolve(), known)
    print(f"reproduce {record.filename} with the code of {commit[:12]} ({checkout})",
          file=sys.stderr)
    if subprocess.run(command, cwd=checkout, env=env).returncode:
        print("error: the rerun failed; see above", file=sys.stderr)
        return 1
    reruns = [r for r in load_records(out) if r.method == record.method
              and r.split == record.split and r.seed == record.seed]
    rerun = max(reruns, key=lambda r: r.created)
    if rerun.config_hash != record.config_hash:
        print(f"note: the rerun composed config #{rerun.config_hash[:8]}, not the record's "
              f"#{record.config_hash[:8]}: an input differs on this machine (at that commit "
              "the built-in backbone was built per machine)", file=sys.stderr)
    std, seeds = row_spread(load_records(args.results_dir), record)
    print(Reproduction(record, rerun, std, seeds).summary())
    return 0


def _threads(record, args: argparse.Namespace) -> int:
    """``--threads``, else the record's thread count, else (with a note) this machine's."""
    import os

    if args.threads is not None:
        if args.threads < 1:
            raise BenchmarkError(f"--threads must be positive, got {args.threads}")
        return args.threads
    if record.threads:
        return record.threads
    count = os.cpu_count() or 1
    print(f"note: {record.filename} does not say how many threads it trained with; using "
          f"{count} (--threads N to choose)", file=sys.stderr)
    return count


def _changed_code(record) -> list[str] | None:
    """Training files changed since the record was made ([] for the same tree)."""
    from benchmark.environment import git_state
    from benchmark.runs.reproduce import changed_training_code

    now = git_state()
    if now["label"] == record.git_commit and now["diff_sha256"] == record.git_diff_sha256:
        return []  # the same commit with the same uncommitted changes (or none)
    return changed_training_code(record.git_commit)


def _reproduce(record, args: argparse.Namespace) -> int:
    import torch

    from benchmark.plugins import load_all
    from benchmark.runs.config_builder import config_hash
    from benchmark.runs.preflight import preflight
    from benchmark.runs.record import load_records
    from benchmark.runs.reproduce import (
        Reproduction,
        hash_mismatch_reasons,
        row_spread,
        spec_of,
    )
    from benchmark.runs.sweep import SweepOptions, execute_sweep

    load_all([p for p in args.plugins.split(",") if p.strip()])
    spec = spec_of(record)
    out = Path(args.results_dir) / "reproductions"
    cfg = preflight([spec], args.work_dir, out)[0]
    now = config_hash(cfg)
    if now != record.config_hash:
        raise BenchmarkError(
            f"cannot reproduce {record.filename}: this code composes config #{now[:8]}, not the "
            f"record's #{record.config_hash[:8]} ({'; '.join(hash_mismatch_reasons(record, cfg))}"
            f"); rerun it with the code of its commit {record.git_commit[:12]}: add --checkout")
    changed = _changed_code(record)
    if changed is None:
        print(f"note: cannot compare the code with the record's commit {record.git_commit[:12]} "
              "(not in this checkout); the config hash matches", file=sys.stderr)
    elif changed and not args.allow_code_change:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5
                                          else "")
        raise BenchmarkError(
            f"cannot reproduce {record.filename}: the training code changed since its commit "
            f"{record.git_commit[:12]} ({shown}); add --checkout to train with that commit's "
            "code, or --allow-code-change to measure the change as well")
    if record.git_dirty and changed:
        print("note: the record was made from a modified tree (git_dirty); its diff is not "
              "stored, only its hash", file=sys.stderr)
    if args.dry_run:
        print(f"{record.filename}: config #{now[:8]} composes again; ready to rerun")
        return 0
    torch.set_num_threads(_threads(record, args))
    label = f"reproduce {spec.label}"
    print(f"{label}: {torch.get_num_threads()} thread(s), records into {out}", file=sys.stderr)
    outcome = execute_sweep([(spec, cfg, label)], SweepOptions(results_dir=out,
                                                              work_root=args.work_dir),
                            jobs=1, stream=sys.stderr)[0]
    if outcome.status != "done":
        print(f"error: the rerun {outcome.status}; see above", file=sys.stderr)
        return 1
    rerun = next(r for r in load_records(out) if r.filename == record.filename)
    std, seeds = row_spread(load_records(args.results_dir), record)
    print(Reproduction(record, rerun, std, seeds).summary())
    return 0
