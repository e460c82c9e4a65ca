#!/usr/bin/env bash
# Data-parallel training through msrun (CPU: mccl, GPU: nccl, Ascend: hccl) on this machine.
# Waits for the job; a failing worker ends the whole job with a non-zero exit and its log shown.
set -euo pipefail
usage="usage: bash scripts/run_distribute_train_msrun.sh MODEL WORKER_NUM [DEVICE_TARGET] [--master_port P] [--timeout S] [--key value ...]
  MODEL          tasnet | dprnn | ecapa_tdnn | jasper
  WORKER_NUM     number of processes (devices)
  DEVICE_TARGET  CPU | GPU | Ascend (default CPU)
  --master_port  scheduler port (default: a free one)
  --timeout      seconds the workers wait for each other when the cluster forms (default 120)
  --key value    passed to MODEL/train.py; --output_dir defaults to the run folder"
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || zoo_die_usage "$usage"
model="$1"; workers="$2"; shift 2
zoo_check_model "$model"; zoo_check_int WORKER_NUM "$workers"
[ "$workers" -ge 1 ] || zoo_die_usage "error: WORKER_NUM must be >= 1"
device=CPU
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then device="$1"; shift; fi
zoo_check_device "$device"
port=""; timeout=120; rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --master_port) [ $# -ge 2 ] || zoo_die_usage "$usage"; zoo_check_int --master_port "$2"; port="$2"; shift 2 ;;
    --timeout) [ $# -ge 2 ] || zoo_die_usage "$usage"; zoo_check_int --timeout "$2"; timeout="$2"; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
zoo_python_env
command -v msrun >/dev/null || zoo_die_usage "error: msrun not found (it comes with mindspore; activate its environment)"
[ -n "$port" ] || port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
zoo_abs_args args "${rest[@]+"${rest[@]}"}"
run_dir="$(zoo_run_dir msrun "$model")"
zoo_has_flag --output_dir "${args[@]+"${args[@]}"}" || args+=(--output_dir "$run_dir/output")
echo "run folder: $run_dir ($workers workers, $device, master port $port)"
cd "$run_dir"
export MS_TOPO_TIMEOUT="$timeout"
status=0
msrun --worker_num="$workers" --local_worker_num="$workers" --master_port="$port" --log_dir="$run_dir/logs" \
  --join=True --cluster_time_out="$timeout" \
  "$ZOO_ROOT/$model/train.py" --device_target "$device" "${args[@]}" > "$run_dir/msrun.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "msrun failed with exit code $status; worker logs in $run_dir/logs:" >&2
  for log in "$run_dir"/logs/worker_*.log; do
    [ -f "$log" ] || continue
    if grep -qiE "traceback|error" "$log"; then echo "--- $log" >&2; grep -vE "^\[(WARNING|INFO)\]" "$log" | tail -n 25 >&2; fi
  done
  exit "$status"
fi
echo "done: logs in $run_dir/logs"
