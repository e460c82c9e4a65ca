#!/usr/bin/env bash
# Set up .venv (idempotent) with the test requirements, then run the whole pytest suite.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh tests/utils -k metrics
set -euo pipefail
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ZOO_ROOT/scripts/setup.sh" --test
cd "$ZOO_ROOT"
started=$(date +%s)
status=0
python -m pytest "$@" || status=$?
echo "test.sh: pytest exit code $status after $(( $(date +%s) - started )) s"
exit "$status"
