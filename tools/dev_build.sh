#!/usr/bin/env bash
# Developer build without pip: compiles fastgrad._core into build/dev-NAME and assembles an
# importable package there (symlinks to python/fastgrad plus the module), so several people can
# build side by side. Usage: tools/dev_build.sh [NAME [CMAKE_ARGS...]]; then
# PYTHONPATH=build/dev-NAME/pkg. Extra CMake arguments (e.g. -DFASTGRAD_SANITIZE=ON) reconfigure
# the folder. PYBIND11_DIR overrides asking $PYTHON for pybind11's CMake folder.
set -euo pipefail
name=${1:-main}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
out="$root/build/dev-$name"
mkdir -p "$out"
if [ ! -f "$out/cmake/build.ninja" ] || [ "$#" -gt 0 ]; then
  cmake -S "$root" -B "$out/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPython_EXECUTABLE="$(command -v "$py")" \
    -Dpybind11_DIR="${PYBIND11_DIR:-$("$py" -m pybind11 --cmakedir)}" "$@" > "$out/cmake.log"
fi
ninja -C "$out/cmake" > "$out/ninja.log" || { cat "$out/ninja.log"; exit 1; }
pkg="$out/pkg/fastgrad"
rm -rf "$pkg"
mkdir -p "$pkg"
for f in "$root"/python/fastgrad/*; do ln -s "$f" "$pkg/"; done
cp "$out"/cmake/_core*.so "$pkg/"
echo "built: PYTHONPATH=$out/pkg"
