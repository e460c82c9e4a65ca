#!/usr/bin/env bash
# Ascend data-parallel training with an HCCL rank table: one process per device, one folder and log each.
set -euo pipefail
usage="usage: bash scripts/run_distribute_train.sh MODEL RANK_TABLE_FILE [RANK_SIZE] [RANK_START] [--dry_run] [--key value ...]
  MODEL            tasnet | dprnn | ecapa_tdnn | jasper
  RANK_TABLE_FILE  rank table JSON (python -m utils.hccl_tools writes one)
  RANK_SIZE        number of devices (default: the rank table's device count)
  RANK_START       first device id on this server (default 0)
  --dry_run        print each rank's environment and command instead of starting them
  --key value      passed to MODEL/train.py; --output_dir defaults to the run folder"
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || zoo_die_usage "$usage"
model="$1"; table="$2"; shift 2
zoo_check_model "$model"
[ -f "$table" ] || zoo_die_usage "error: rank table '$table' not found"
table="$(cd "$(dirname "$table")" && pwd)/$(basename "$table")"
zoo_python_env
table_size="$(cd "$ZOO_ROOT" && python -m utils.hccl_tools --validate "$table")" || zoo_die_usage "error: invalid rank table $table"
rank_size="$table_size"; rank_start=0
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then zoo_check_int RANK_SIZE "$1"; rank_size="$1"; shift; fi
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then zoo_check_int RANK_START "$1"; rank_start="$1"; shift; fi
[ "$rank_size" -ge 1 ] && [ "$rank_size" -le "$table_size" ] ||
  zoo_die_usage "error: RANK_SIZE $rank_size must be between 1 and the rank table's $table_size devices"
dry_run=0; rest=()
for arg in "$@"; do
  if [ "$arg" = "--dry_run" ]; then dry_run=1; else rest+=("$arg"); fi
done
zoo_abs_args args "${rest[@]+"${rest[@]}"}"
run_dir="$(zoo_run_dir distribute "$model")"
zoo_has_flag --output_dir "${args[@]+"${args[@]}"}" || args+=(--output_dir "$run_dir/output")
echo "run folder: $run_dir ($rank_size ranks)"
pids=()
for ((rank = 0; rank < rank_size; rank++)); do
  device_id=$((rank_start + rank))
  rank_dir="$run_dir/device_$device_id"
  mkdir -p "$rank_dir"
  cmd=(python "$ZOO_ROOT/$model/train.py" --device_target Ascend "${args[@]}")
  if [ "$dry_run" = 1 ]; then
    echo "rank $rank: RANK_TABLE_FILE=$table RANK_SIZE=$rank_size RANK_ID=$rank DEVICE_ID=$device_id cwd=$rank_dir ${cmd[*]}"
    continue
  fi
  (cd "$rank_dir" && RANK_TABLE_FILE="$table" RANK_SIZE="$rank_size" RANK_ID="$rank" DEVICE_ID="$device_id" \
     nohup "${cmd[@]}" > train.log 2>&1) &
  pids+=($!)
  echo "rank $rank on device $device_id: PID ${pids[-1]}, log $rank_dir/train.log"
done
