#!/usr/bin/env bash
# Train one model on one device, in the background, in its own run folder (train.log inside).
set -euo pipefail
usage="usage: bash scripts/run_standalone_train.sh MODEL DEVICE_TARGET [DEVICE_ID] [--foreground] [--key value ...]
  MODEL          tasnet | dprnn | ecapa_tdnn | jasper
  DEVICE_TARGET  CPU | GPU | Ascend
  DEVICE_ID      accelerator index (default 0)
  --foreground   wait for the training and return its exit code (default: background, prints the PID)
  --key value    passed to MODEL/train.py (e.g. --data_dir DIR --epochs 10); --output_dir defaults to the run folder"
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || zoo_die_usage "$usage"
model="$1"; device="$2"; shift 2
zoo_check_model "$model"; zoo_check_device "$device"
device_id=0
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then zoo_check_int DEVICE_ID "$1"; device_id="$1"; shift; fi
foreground=0
rest=()
for arg in "$@"; do
  if [ "$arg" = "--foreground" ]; then foreground=1; else rest+=("$arg"); fi
done
zoo_abs_args args "${rest[@]+"${rest[@]}"}"
run_dir="$(zoo_run_dir standalone "$model")"
zoo_has_flag --output_dir "${args[@]+"${args[@]}"}" || args+=(--output_dir "$run_dir")
zoo_python_env
export DEVICE_ID="$device_id" RANK_ID=0 RANK_SIZE=1
cmd=(python "$ZOO_ROOT/$model/train.py" --device_target "$device" --device_id "$device_id" "${args[@]}")
echo "run folder: $run_dir"
echo "command: ${cmd[*]}"
cd "$run_dir"
if [ "$foreground" = 1 ]; then
  "${cmd[@]}" > train.log 2>&1 || { status=$?; tail -n 20 train.log >&2; echo "training failed ($status): $run_dir/train.log" >&2; exit "$status"; }
  echo "done: $run_dir/train.log"
else
  nohup "${cmd[@]}" > train.log 2>&1 &
  echo "started PID $! in the background; follow it with: tail -f $run_dir/train.log"
fi
