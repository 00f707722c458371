#!/usr/bin/env bash
# Lint: ruff check (Python, config in pyproject.toml), clang-format --dry-run --Werror over
# cpp/**/*.{h,cpp} (config in .clang-format) and lint-imports (import-linter contracts, when
# configured in pyproject.toml or .importlinter). Fails if any of them fails. Run by .ci/run.
# Usage: tools/lint.sh [--fix]: --fix applies ruff's safe fixes and clang-format -i instead of
# only reporting. The tools come from the lint extra: pip install ".[lint]" (pinned versions).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fix=0
[ "${1:-}" = "--fix" ] && fix=1

failed=()
need() {
  command -v "$1" >/dev/null || {
    echo "tools/lint.sh: $1 not found; install the lint extra: pip install \".[lint]\"" >&2
    exit 2
  }
}
need ruff
need clang-format

echo "== ruff check ($(ruff --version))"
if [ "$fix" -eq 1 ]; then
  ruff check --fix . || failed+=("ruff")
else
  ruff check . || failed+=("ruff")
fi

echo "== clang-format ($(clang-format --version | sed 's/.*version //'))"
log=$(mktemp)
mapfile -t cpp_files < <(find cpp \( -name '*.h' -o -name '*.cpp' \) | sort)
if [ "$fix" -eq 1 ]; then
  clang-format -i "${cpp_files[@]}"
elif ! clang-format --dry-run --Werror "${cpp_files[@]}" 2> "$log"; then
  # One line per offending file (the full report is long); `tools/lint.sh --fix` rewrites them.
  grep -o '^[^:]*:[0-9]*:[0-9]*: error' "$log" | cut -d: -f1 | sort |
    uniq -c | awk '{print "  " $2 " (" $1 " to change)"}'
  head -20 "$log"
  failed+=("clang-format")
fi
rm -f "$log"

echo "== lint-imports"
if grep -q '^\[tool\.importlinter\]' pyproject.toml 2>/dev/null || [ -f .importlinter ]; then
  need lint-imports
  # The source tree, not an installed copy: import-linter reads the package found on sys.path.
  PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" lint-imports || failed+=("lint-imports")
else
  echo "no import-linter contract configured (pyproject.toml [tool.importlinter] or .importlinter)"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "LINT FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: clean"
