#!/usr/bin/env bash
# Create .venv in the repository (if missing) and install the pinned requirements into it.
# Idempotent: a second run compares a hash of the requirement files and installs nothing.
# Usage: bash scripts/setup.sh [--test]   (--test adds requirements-test.txt, and requirements-reference.txt
#        installed with --no-deps: the PyTorch reference models of the parity tests)
# Source it (`. scripts/setup.sh`) to keep the venv activated in your shell.
set -euo pipefail
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup: $PYTHON not found: install Python 3 (tested with 3.11) first" >&2; exit 1
fi
venv="$ZOO_ROOT/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  "$PYTHON" -m venv "$venv"
fi
files=("$ZOO_ROOT/requirements.txt")
[ "$want_test" = 1 ] && files+=("$ZOO_ROOT/requirements-test.txt" "$ZOO_ROOT/requirements-reference.txt")
stamp="$venv/.installed-$([ "$want_test" = 1 ] && echo test || echo requirements)"
digest="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
  echo "setup: requirements already installed in $venv"
else
  echo "setup: installing ${files[*]##*/} into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  args=(-r "$ZOO_ROOT/requirements.txt")
  [ "$want_test" = 1 ] && args+=(-r "$ZOO_ROOT/requirements-test.txt")
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
  if [ "$want_test" = 1 ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      -r "$ZOO_ROOT/requirements-reference.txt"
  fi
  echo "$digest" > "$stamp"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}" GLOG_v="${GLOG_v:-3}"
