#!/usr/bin/env bash
# Evaluate a checkpoint (or MINDIR) of one model; eval.log and the metrics go to a run folder.
set -euo pipefail
usage="usage: bash scripts/run_eval.sh MODEL DEVICE_TARGET CKPT_PATH [--key value ...]
  MODEL          tasnet | dprnn | ecapa_tdnn | jasper
  DEVICE_TARGET  CPU | GPU | Ascend
  CKPT_PATH      .ckpt (or .mindir) to evaluate
  --key value    passed to MODEL/eval.py (e.g. --data_dir DIR or --manifest M); --output_dir defaults to the run folder"
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 3 ] || zoo_die_usage "$usage"
model="$1"; device="$2"; ckpt="$3"; shift 3
zoo_check_model "$model"; zoo_check_device "$device"
[ -f "$ckpt" ] || zoo_die_usage "error: CKPT_PATH '$ckpt' not found"
ckpt="$(cd "$(dirname "$ckpt")" && pwd)/$(basename "$ckpt")"
zoo_abs_args args "$@"
run_dir="$(zoo_run_dir eval "$model")"
zoo_has_flag --output_dir "${args[@]+"${args[@]}"}" || args+=(--output_dir "$run_dir")
zoo_python_env
echo "run folder: $run_dir"
cd "$run_dir"
status=0
python "$ZOO_ROOT/$model/eval.py" --device_target "$device" --ckpt_path "$ckpt" "${args[@]}" 2>&1 | tee eval.log || status=$?
[ "${PIPESTATUS[0]}" -eq 0 ] || status="${PIPESTATUS[0]}"
exit "$status"
