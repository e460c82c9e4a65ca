#!/usr/bin/env bash
# Build the Ascend 310 runner: bash ascend310_infer/build.sh [BUILD_DIR] [extra cmake -D options]
# MINDSPORE_PATH must name the root holding include/api/model.h and lib/ (see README.md).
# The binary ends up in BUILD_DIR/ascend310_infer (BUILD_DIR defaults to ascend310_infer/build).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="${1:-$here/build}"
[ $# -gt 0 ] && shift
if [ -z "${MINDSPORE_PATH:-}" ]; then
  echo "error: MINDSPORE_PATH is not set. Point it at the MindSpore (or MindSpore Lite) root holding" >&2
  echo "       include/api/model.h and lib/, e.g. export MINDSPORE_PATH=\$(python -c 'import mindspore, os;" \
       "print(os.path.dirname(mindspore.__file__))')" >&2
  exit 2
fi
headers=""
for root in "$MINDSPORE_PATH" "$MINDSPORE_PATH/runtime" "$MINDSPORE_PATH/mindspore_lite"; do
  [ -f "$root/include/api/model.h" ] && headers="$root/include/api"
done
if [ -z "$headers" ]; then
  echo "error: MINDSPORE_PATH=$MINDSPORE_PATH holds no include/api/model.h (nor its runtime/ or mindspore_lite/):" >&2
  echo "       this package has no C++ inference API; use MindSpore's Ascend inference package or MindSpore Lite" >&2
  exit 2
fi
for tool in cmake make g++; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (needed to build ascend310_infer)" >&2; exit 2; }
done
cmake -S "$here" -B "$build_dir" -DMINDSPORE_PATH="$MINDSPORE_PATH" "$@"
cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)"
echo "built: $build_dir"
