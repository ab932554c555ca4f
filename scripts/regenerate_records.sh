#!/usr/bin/env bash
# Regenerate the shipped built-in records on the current default, into a staging folder.
#
# Every run is a plain `python -m benchmark run` with --skip-done, so the script can be
# stopped at any time and started again (on the same or another machine): finished
# records are kept, unfinished runs resume from their checkpoint where the work dir
# survives, and only what is missing trains. One thread per run, two runs side by side
# (the default `--jobs auto` on 2 cores), as every shipped record was made.
#
# Order: the protocol study first (supervised-only, `unimatch` and `sop` with
# model.sop_weight=0 at 1/8, 1/16 and 1/4, 5 seeds: the validity targets), then every
# other registered method at 1/8 (3 seeds), the default `sop` curve rows, and
# supervised-only on all labels at the default schedule and at twice it (convergence).
#
# When it has finished (`python -m benchmark validity --results-dir STAGING` names no
# missing records), the staging records replace results/runs/ (README, "Regenerating the
# shipped records").
#
# Environment:
#   STAGING   results folder of the new records (default results/regenerating)
#   WORK_DIR  checkpoints and logs (default work_dirs)
#   PY        interpreter (default .venv/bin/python)
set -euo pipefail

cd "$(dirname "$0")/.."
STAGING=${STAGING:-results/regenerating}
WORK_DIR=${WORK_DIR:-work_dirs}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)results')" ]; then
  echo "regenerate_records: tracked files are modified; records must name a clean commit" \
       "(commit or stash first)" >&2
  exit 2
fi

# One regeneration, one training code: every staged record must come from code that trains
# like the first staged record's commit (README, "Regenerating the shipped records").
"$PY" - "$STAGING" <<'PYEOF'
import json, sys
from pathlib import Path
from benchmark.runs.reproduce import changed_training_code
records = sorted(Path(sys.argv[1]).glob("runs/*.json"))
if records:
    commit = json.loads(records[0].read_text())["git_commit"]
    changed = changed_training_code(commit)
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        sys.exit(f"regenerate_records: the training code changed since {commit[:7]}, the "
                 f"commit of the staged records ({', '.join(changed[:3])}{more}); train from a "
                 f"worktree of it (git worktree add --detach DIR {commit[:7]}) or start a "
                 "new staging folder (STAGING=...)")
PYEOF

run() {
  "$PY" -m benchmark run --skip-done --results-dir "$STAGING" --work-dir "$WORK_DIR" "$@"
}

others=$("$PY" - <<'EOF'
from benchmark.plugins import load_all
from benchmark.registry import registered_methods
load_all()
print(",".join(m for m in registered_methods() if m not in ("supervised", "unimatch")))
EOF
)

run --methods supervised,unimatch,sop --split 1_8,1_16,1_4 --seeds 0,1,2,3,4 \
    --cfg-options sop:model.sop_weight=0
run --methods "$others" --split 1_8 --seeds 0,1,2
run --methods sop --split 1_16,1_4 --seeds 0,1,2
run --methods supervised --split full --seeds 0,1,2
run --methods supervised --split full --seeds 0,1,2 --iters 4000
"$PY" -m benchmark validity --results-dir "$STAGING"
