#!/usr/bin/env bash
# One command from a fresh clone: set up .venv, build the tiny synthetic corpora, then run the main
# job of every model (short CPU training, evaluation, export, inference on a sample) and print one
# results table. Outputs go to runs/quickstart/ (corpora in data/tiny/, reused when present).
# Usage: bash scripts/quickstart.sh [--data DIR] [--out DIR]
set -euo pipefail
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$ZOO_ROOT/data/tiny"
out="$ZOO_ROOT/runs/quickstart"
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: bash scripts/quickstart.sh [--data DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC1091
source "$ZOO_ROOT/scripts/setup.sh"
cd "$ZOO_ROOT"
if [ -f "$data/summary.json" ]; then
  echo "quickstart: corpora already built in $data"
else
  python -m utils.tiny_corpora --out "$data"
fi
mkdir -p "$out"
python -m utils.quickstart --data "$data" --out "$out"
