#!/usr/bin/env bash
# Measure how compiler flags change the cost of building mmcv's CPU ops: compiles a sample
# of mmcv 2.1.0's translation units (the pybind module, op wrappers, CPU kernels) once per
# flag set and prints the CPU seconds (user + sys, unaffected by other load) and the
# ratio to Python's own flags (-g -O3), which a plain build uses.
#
# Usage: bash scripts/mmcv_compile_flags.sh ["-g0" "-g0 -O1" ...]
#   (default flag sets: "-g -O3" "-g0 -O3" "-g0 -O2" "-g0 -O1" "-g0 -O0")
# Environment: VENV (default .venv, needs torch), MMCV_SDIST (a downloaded
#   mmcv-2.1.0.tar.gz; default: downloaded with pip into a temporary folder).
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -z "${MMCV_SDIST:-}" ]; then
  # pip prepares an sdist's metadata even to download it, and mmcv's setup.py imports
  # pkg_resources, which setuptools >= 70 no longer has: download from a scratch venv.
  "$PY" -m venv "$WORK/download-env"
  "$WORK/download-env/bin/pip" install -q --disable-pip-version-check "setuptools<70" wheel
  "$WORK/download-env/bin/pip" download -q --disable-pip-version-check --no-deps \
    --no-binary :all: --no-build-isolation "mmcv==2.1.0" -d "$WORK" 2>/dev/null
  MMCV_SDIST="$WORK/mmcv-2.1.0.tar.gz"
fi
tar -xzf "$MMCV_SDIST" -C "$WORK"
SRC="$WORK/mmcv-2.1.0/mmcv/ops/csrc"
FILES=("$SRC/pytorch/pybind.cpp" "$SRC/pytorch/deform_conv.cpp" "$SRC/pytorch/nms.cpp"
       "$SRC/pytorch/cpu/roi_align.cpp" "$SRC/pytorch/cpu/modulated_deform_conv.cpp"
       "$SRC/pytorch/cpu/nms.cpp")
read -r -a INCLUDES <<< "$("$PY" -c "
import sysconfig
from torch.utils.cpp_extension import include_paths
print(' '.join('-I' + p for p in include_paths() + [sysconfig.get_paths()['include']]))
" 2>/dev/null)"
# The flags setup.py and torch's BuildExtension pass besides Python's -g -O3.
COMMON=(-pthread -Wsign-compare -DNDEBUG -fwrapv -Wall -fPIC "-I$SRC/common" "${INCLUDES[@]}"
        -DTORCH_API_INCLUDE_EXTENSION_H -DTORCH_EXTENSION_NAME=_ext
        -D_GLIBCXX_USE_CXX11_ABI=1 -std=c++20)
FLAG_SETS=("$@")
[ ${#FLAG_SETS[@]} -gt 0 ] || FLAG_SETS=("-g -O3" "-g0 -O3" "-g0 -O2" "-g0 -O1" "-g0 -O0")

cpu_seconds() {  # CPU seconds of compiling every sample file with the flags in $1
  local start end me=$BASHPID  # this subshell: the compilers are its children
  start=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$me/stat")
  for file in "${FILES[@]}"; do
    # shellcheck disable=SC2086
    g++ "${COMMON[@]}" $1 -c "$file" -o "$WORK/out.o"
  done
  end=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$me/stat")
  echo $(( (end - start) / $(getconf CLK_TCK) ))
}

echo "compiling ${#FILES[@]} of mmcv's translation units per flag set (CPU seconds)"
baseline=""
for flags in "${FLAG_SETS[@]}"; do
  seconds=$(cpu_seconds "$flags")
  baseline=${baseline:-$seconds}
  printf '%-12s %5d s   x%.2f of %s\n' "$flags" "$seconds" \
    "$(awk "BEGIN {print $seconds / $baseline}")" "${FLAG_SETS[0]}"
done
