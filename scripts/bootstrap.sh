#!/usr/bin/env bash
# Create .venv with torch, mmcv (compiled ops), mmengine, mmsegmentation and this
# project in editable mode. Idempotent: a second run installs nothing new and never
# rebuilds mmcv when a cached wheel matches.
#
# Why an mmcv build step exists: mmsegmentation 1.2.x imports mmcv.ops (compiled
# C++ ops) and accepts only mmcv >=2.0.0rc4,<2.2.0. No binary wheel of mmcv 2.1.0
# exists for torch 2.14 on CPU, and mmcv 2.1.0's setup.py hard-codes -std=c++14/17
# while torch 2.14's headers need C++20. We build mmcv 2.1.0 from its source
# distribution with the flag fixed, without debug information (MMCV_CFLAGS, default
# -g0: half the compiler's CPU time, README "Set-up time"), and cache the wheel outside
# the repository (MMCV_WHEEL_CACHE, default ~/.cache/semiseg-bench/wheels).
#
# GPU machines: install the prebuilt mmcv for your CUDA/torch first (see README);
# this script keeps any mmcv whose compiled ops import.
#
# Environment:
#   PYTHON             interpreter used to create the venv (default: python3.11 or python3)
#   VENV               venv path (default: .venv)
#   TORCH_SPEC         torch requirement (default: torch==2.14.1 torchvision==0.29.1)
#   MMCV_WHEEL_CACHE   folder holding built mmcv wheels
#   MMCV_CFLAGS        extra compiler flags of the mmcv build (default -g0; appended
#                      after Python's own -g -O3, so they win)
#   MAX_JOBS           parallel compiler processes of the mmcv build (default 2)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
VENV=$(mkdir -p "$VENV" && cd "$VENV" && pwd)
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
MMCV_VERSION=2.1.0
CACHE_ROOT=${MMCV_WHEEL_CACHE:-$HOME/.cache/semiseg-bench/wheels}

log() { printf '[bootstrap] %s\n' "$*"; }

# Every import the project needs, then the one-line environment summary: a single
# interpreter start (each import of torch costs seconds).
READY_CHECK='import torchvision, mmcv.ops, mmseg.models, timm, pytest
from benchmark.cli import main
raise SystemExit(main(["env", "--short"]))'

# Fast path: a ready .venv (the project installed after the last pyproject.toml change,
# and READY_CHECK passes) is left as it is, without the step-by-step checks below.
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.project-installed" ] \
   && [ ! pyproject.toml -nt "$VENV/.project-installed" ] \
   && SUMMARY=$("$VENV/bin/python" -c "$READY_CHECK" 2>/dev/null); then
  log "ready, nothing to install: $SUMMARY"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  rmdir "$VENV" 2>/dev/null || true
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  log "installing $TORCH_SPEC (pip takes it from local disk where available)"
  "${PIP[@]}" install -q "setuptools<70" wheel
  # shellcheck disable=SC2086
  "${PIP[@]}" install -q $TORCH_SPEC
fi

mmcv_ops_ok() { "$PY" -c "import mmcv, mmcv.ops" >/dev/null 2>&1; }

if mmcv_ops_ok; then
  log "mmcv with compiled ops already installed: $("$PY" -c 'import mmcv; print(mmcv.__version__)')"
else
  TORCH_TAG=$("$PY" -c "import sys, torch; print(f'torch{torch.__version__.split(\"+\")[0]}-py{sys.version_info[0]}{sys.version_info[1]}-{\"cuda\" if torch.cuda.is_available() else \"cpu\"}')")
  CACHE_DIR="$CACHE_ROOT/$TORCH_TAG"
  mkdir -p "$CACHE_DIR"
  WHEEL=$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$WHEEL" ]; then
    log "no cached mmcv wheel in $CACHE_DIR: building mmcv $MMCV_VERSION from source (6-20 min on 2 cores, by CPU kind)"
    BUILD_DIR=$(mktemp -d)
    trap 'rm -rf "$BUILD_DIR"' EXIT
    "${PIP[@]}" install -q "setuptools<70" wheel ninja
    "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
    SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
    # torch 2.14 headers require C++20; mmcv 2.1.0 hard-codes older standards.
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    (cd "$SRC" && CFLAGS=${MMCV_CFLAGS--g0} MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} MAX_JOBS=${MAX_JOBS:-2} \
      "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$BUILD_DIR/dist" .)
    cp "$BUILD_DIR"/dist/mmcv-*.whl "$CACHE_DIR/"
    WHEEL=$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
    log "cached $WHEEL"
  else
    log "using cached mmcv wheel $WHEEL"
  fi
  "${PIP[@]}" install -q "$WHEEL"
  mmcv_ops_ok || { echo "[bootstrap] mmcv installed but 'import mmcv.ops' fails" >&2; exit 1; }
fi

if ! "$PY" -c "import benchmark, mmseg.models, timm, pytest" >/dev/null 2>&1 \
   || [ pyproject.toml -nt "$VENV/.project-installed" ]; then
  log "installing the project (editable) with its test extras"
  "${PIP[@]}" install -q -e ".[test]"
  touch "$VENV/.project-installed"
fi
log "ready: $("$PY" -c "$READY_CHECK")"
