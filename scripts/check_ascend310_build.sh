#!/usr/bin/env bash
# CI compile check of ascend310_infer without an Ascend card or a C++ MindSpore 2.10 runtime:
# builds the runner against the C++ API headers and library shipped in the MindSpore Lite 2.0.0 wheel.
#   bash scripts/check_ascend310_build.sh [CACHE_DIR]      (default .cache/mindspore-lite, git-ignored)
# The wheel (~170 MB) is downloaded once into CACHE_DIR; later runs reuse it and download nothing.
# Compiles AND links when the library exports mindspore::AscendDeviceInfo (Ascend310DeviceInfo is an alias
# of it in these headers), else compiles only and says why. Exit 0 on success, 1 on failure.
set -euo pipefail
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
lite_version="2.0.0"
cache="${1:-$ZOO_ROOT/.cache/mindspore-lite}"
for tool in cmake make g++ unzip nm c++filt; do
  command -v "$tool" >/dev/null || { echo "error: the Ascend 310 build check needs $tool" >&2; exit 1; }
done
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
[ -f "$cache/.gitignore" ] || printf '*\n' > "$cache/.gitignore"
zoo_python_env

wheel="$(ls "$cache"/mindspore_lite-"$lite_version"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
  echo "downloading mindspore-lite==$lite_version (Python 3.7 wheel, only for its C++ headers and libraries)"
  if ! python -m pip download --python-version 3.7 --only-binary=:all: --no-deps \
         "mindspore-lite==$lite_version" -d "$cache"; then
    echo "error: could not download mindspore-lite==$lite_version into $cache (network or index problem)" >&2
    exit 1
  fi
  wheel="$(ls "$cache"/mindspore_lite-"$lite_version"-*.whl | head -n 1)"
else
  echo "using cached $wheel"
fi
echo "wheel: $(basename "$wheel") ($(du -m "$wheel" | cut -f1) MB)"

root="$cache/unpacked/mindspore_lite"
if [ ! -f "$cache/unpacked/.complete" ]; then  # an interrupted unzip leaves no marker: start that folder over
  rm -rf "$cache/unpacked"
  unzip -q "$wheel" 'mindspore_lite/include/*' 'mindspore_lite/lib/*' -d "$cache/unpacked"
  touch "$cache/unpacked/.complete"
fi
model_h="$(find "$root" -path '*/include/api/model.h' | head -n 1)"
[ -n "$model_h" ] || { echo "error: the wheel holds no include/api/model.h" >&2; exit 1; }
echo "headers: ${model_h%/model.h}"

library=""
for name in libmindspore-lite.so libmindspore.so libmindspore-extendrt_python.so; do
  candidate="$root/lib/$name"
  # grep without -q: quitting early would make nm fail on SIGPIPE, and pipefail report a miss
  if [ -f "$candidate" ] &&
     nm -D --defined-only "$candidate" | c++filt | grep 'mindspore::AscendDeviceInfo::SetDeviceID' >/dev/null; then
    library="$candidate"; break
  fi
done
mode_flags=(-DZOO_COMPILE_ONLY=OFF)
if [ -n "$library" ]; then
  echo "library: $library (exports Model::Build/Predict/Resize, AscendDeviceInfo): compile + link"
  mode_flags+=(-DMINDSPORE_LIBRARY="$library")
else
  echo "warning: no library in $root/lib exports mindspore::AscendDeviceInfo: compile only (nothing to link against)"
  mode_flags=(-DZOO_COMPILE_ONLY=ON)
fi

build="$cache/build"
rm -rf "$build"
start=$(date +%s)
cmake -S "$ZOO_ROOT/ascend310_infer" -B "$build" -DMINDSPORE_PATH="$root" "${mode_flags[@]}" >"$cache/cmake.log" 2>&1 ||
  { cat "$cache/cmake.log" >&2; echo "error: cmake configure failed (log above)" >&2; exit 1; }
if ! cmake --build "$build" -j 2 >"$cache/build.log" 2>&1; then
  grep -E 'error|undefined' "$cache/build.log" >&2 || tail -n 30 "$cache/build.log" >&2
  echo "error: build failed ($cache/build.log)" >&2
  exit 1
fi
echo "build time: $(( $(date +%s) - start )) s"
if [ -n "$library" ]; then
  # --help exits before touching MindSpore, but the loader must resolve every shared library first.
  "$build/ascend310_infer" --help >/dev/null || { echo "error: the linked runner does not start" >&2; exit 1; }
  echo "OK: ascend310_infer compiled, linked and starts ($build/ascend310_infer)"
else
  echo "OK: ascend310_infer compiled (not linked)"
fi
