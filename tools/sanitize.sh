#!/usr/bin/env bash
# Builds fastgrad._core with AddressSanitizer + UndefinedBehaviorSanitizer (FASTGRAD_SANITIZE, -O1)
# into build/dev-asan and runs the test suite against it. Fails on a failing test and on any
# sanitizer report: reports go to build/sanitize/reports/, and the first one stops the process.
# Usage: tools/sanitize.sh [PYTEST_ARGS...] (default: the whole suite). Needs the test
# dependencies in $PYTHON (default python3); pybind11, cmake and ninja are fetched into a
# throwaway venv when missing. Run by .ci/run.
#
# Runtime options: the uninstrumented Python interpreter is started with libasan preloaded;
# detect_leaks=0 because CPython keeps its own allocations to exit (leaks are tested by
# tests/test_stress.py with live counters instead); allocator_may_return_null=1 so an allocation
# too large to make returns null as glibc's malloc does, which fastgrad turns into MemoryError
# (tests/test_fuzz.py checks that).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=$(command -v "${PYTHON:-python3}")
work="$root/build/sanitize"
start=$(date +%s)
mkdir -p "$work"

tools_py="$py"
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja)
if ! "$py" -c "import pybind11" 2>/dev/null || [ "${#missing[@]}" -gt 0 ]; then
  [ -x "$work/tools-venv/bin/python" ] || "$py" -m venv "$work/tools-venv"
  "$work/tools-venv/bin/python" -m pip install -q "pybind11>=3.0" "${missing[@]}"
  export PATH="$PATH:$work/tools-venv/bin"
  tools_py="$work/tools-venv/bin/python"
fi
export PYBIND11_DIR
PYBIND11_DIR=$("$tools_py" -m pybind11 --cmakedir)

echo "== ASan + UBSan build (build/dev-asan)"
PYTHON="$py" "$root/tools/dev_build.sh" asan -DFASTGRAD_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF
echo "built in $(( $(date +%s) - start )) s"
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$root/build/dev-asan/cmake/CMakeCache.txt")
libasan=$("$cxx" -print-file-name=libasan.so)
libstdcxx=$("$cxx" -print-file-name=libstdc++.so.6)
for f in "$libasan" "$libstdcxx"; do
  [ -f "$f" ] || { echo "FAIL: $cxx has no $f" >&2; exit 1; }
done
# libstdc++ is preloaded too: ASan looks up the real __cxa_throw when it starts, and a C++
# exception thrown by a library loaded later (fastgrad's own errors) would otherwise abort.
preload="$libasan:$libstdcxx"

reports="$work/reports"
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=0:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export PYTHONPATH="$root/build/dev-asan/pkg"
# The NumPy backend runs no C++: its half of the backend-parametrized tests is skipped here.
export FASTGRAD_TEST_BACKENDS=cpp
t0=$(date +%s)
set +e
(cd "$root" && LD_PRELOAD="$preload" "$py" -c \
  "import fastgrad, sys; ext = fastgrad._config.config()['extension']; sys.exit(not ext['sanitize'])" \
  && LD_PRELOAD="$preload" "$py" -m pytest -q -p no:cacheprovider --durations=10 "$@")
rc=$?
set -e
echo "sanitized tests took $(( $(date +%s) - t0 )) s (exit $rc); total $(( $(date +%s) - start )) s"
# The one line allowed: a refused huge allocation (tests/test_fuzz.py asks for terabytes on
# purpose; with allocator_may_return_null ASan warns and returns null, fastgrad raises MemoryError).
refused="WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]* bytes$"
n_refused=$(cat "$reports"/* 2>/dev/null | grep -c "$refused" || true)
bad=0
for f in "$reports"/*; do
  [ -e "$f" ] || continue
  if [ -n "$(grep -v "$refused" "$f")" ]; then  # (grep -q under pipefail can miss a match)
    bad=1
    echo "--- sanitizer report $f" >&2
    grep -v "$refused" "$f" | head -80 >&2 || true
  fi
done
echo "huge allocations refused (as MemoryError): $n_refused"
if [ "$bad" -ne 0 ]; then
  echo "FAIL: sanitizer reports above" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  echo "FAIL: the test run under sanitizers exited with $rc" >&2
  exit "$rc"
fi
echo "sanitizers: clean (no ASan or UBSan report)"
