#!/usr/bin/env bash
# Ascend 310 inference of one exported model, through the file protocol of utils/infer310.py.
set -euo pipefail
usage="usage: bash scripts/run_infer_310.sh MODEL MINDIR_PATH DATA_PATH NEED_PREPROCESS [DEVICE_ID] [--runner cpp|python]
                                      [--device_target CPU|GPU|Ascend] [--key value ...]
  MODEL            tasnet | dprnn | ecapa_tdnn | jasper, or a folder holding preprocess_310.py and postprocess.py
  MINDIR_PATH      exported .mindir (fixed shapes for the C++ runner on Ascend 310 unless it supports resizing)
  DATA_PATH        dataset given to MODEL/preprocess_310.py and MODEL/postprocess.py; with NEED_PREPROCESS=n
                   it must already be a protocol input folder (inputs.txt, shapes.txt, <input>/<item>.bin)
  NEED_PREPROCESS  y | n (also yes/no/true/false)
  DEVICE_ID        Ascend device index (default 0)
  --runner         cpp: build and run ascend310_infer (needs MINDSPORE_PATH, see ascend310_infer/README.md);
                   python: python -m utils.infer310 (default: cpp)
  --device_target  device of the python runner (default CPU)
  --key value      passed to MODEL/preprocess_310.py
Everything goes to runs/<model>_infer310_<time>_<pid>/: preprocess/, result/, logs/, metrics from postprocess.py"
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 4 ] || zoo_die_usage "$usage"
model="$1"; mindir="$2"; data="$3"; need_preprocess="$4"; shift 4
device_id=0
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then device_id="$1"; shift; fi
zoo_check_int DEVICE_ID "$device_id"
runner=cpp; device_target=CPU; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runner) [ $# -ge 2 ] || zoo_die_usage "error: --runner needs a value (cpp or python)"; runner="$2"; shift 2 ;;
    --device_target) [ $# -ge 2 ] || zoo_die_usage "error: --device_target needs a value"; device_target="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
case "$runner" in cpp|python) ;; *) zoo_die_usage "error: --runner must be cpp or python, got '$runner'" ;; esac
zoo_check_device "$device_target"
case "$(echo "$need_preprocess" | tr '[:upper:]' '[:lower:]')" in
  y|yes|true) need_preprocess=y ;;
  n|no|false) need_preprocess=n ;;
  *) zoo_die_usage "error: NEED_PREPROCESS must be y or n, got '$need_preprocess'" ;;
esac

if [[ "$model" == */* ]]; then
  [ -d "$model" ] || zoo_die_usage "error: MODEL folder '$model' not found"
  model_dir="$(cd "$model" && pwd)"
else
  [[ " $ZOO_MODELS " == *" $model "* ]] || zoo_die_usage "error: unknown MODEL '$model' (one of: $ZOO_MODELS, or a folder)"
  model_dir="$ZOO_ROOT/$model"
fi
model_name="$(basename "$model_dir")"
if [ "$need_preprocess" = y ] && [ ! -f "$model_dir/preprocess_310.py" ]; then
  zoo_die_usage "error: $model_dir/preprocess_310.py does not exist (run with NEED_PREPROCESS=n on a protocol folder)"
fi
[ -f "$model_dir/postprocess.py" ] || zoo_die_usage "error: $model_dir/postprocess.py does not exist"
[ -f "$mindir" ] || zoo_die_usage "error: MINDIR_PATH '$mindir' not found"
[ -e "$data" ] || zoo_die_usage "error: DATA_PATH '$data' not found"
mindir="$(cd "$(dirname "$mindir")" && pwd)/$(basename "$mindir")"
data="$(cd "$(dirname "$data")" && pwd)/$(basename "$data")"
if [ "$need_preprocess" = n ] && [ ! -f "$data/shapes.txt" ]; then
  zoo_die_usage "error: NEED_PREPROCESS=n but $data/shapes.txt does not exist (DATA_PATH must be a protocol input folder)"
fi
if [ "$runner" = cpp ] && [ -z "${MINDSPORE_PATH:-}" ]; then
  zoo_die_usage "error: --runner cpp builds ascend310_infer and needs MINDSPORE_PATH (the MindSpore root holding
       include/api/model.h and lib/, see ascend310_infer/README.md); or use --runner python"
fi
zoo_abs_args extra ${extra[@]+"${extra[@]}"}

run_dir="$(zoo_run_dir infer310 "$model_name")"
mkdir -p "$run_dir/logs"
echo "run folder: $run_dir"
zoo_python_env
export PYTHONPATH="$ZOO_ROOT${PYTHONPATH:+:$PYTHONPATH}"

run_step() {  # NAME COMMAND...: runs COMMAND, its output shown and kept in logs/NAME.log; returns its status
  local name="$1" status=0; shift
  echo "== $name"
  "$@" 2>&1 | tee "$run_dir/logs/$name.log" || status=$?  # pipefail: the command's status, not tee's
  return "$status"
}

step_failed() {  # NAME STATUS: stop the script
  echo "error: $1 failed (exit $2), see $run_dir/logs/$1.log" >&2; exit "$2"
}

step() {  # NAME COMMAND...: run_step, stopping the script on failure
  local status=0
  run_step "$@" || status=$?
  if [ "$status" -ne 0 ]; then step_failed "$1" "$status"; fi
}

if [ "$runner" = cpp ]; then
  step build bash "$ZOO_ROOT/ascend310_infer/build.sh" "$run_dir/build"
fi
input_dir="$data"
if [ "$need_preprocess" = y ]; then
  input_dir="$run_dir/preprocess"
  status=0
  run_step preprocess python "$model_dir/preprocess_310.py" --data_path "$data" --output_path "$input_dir" \
    ${extra[@]+"${extra[@]}"} || status=$?
  # exit 1 with failures.tsv: some inputs could not be used and were left out; the others are run and scored
  if [ "$status" -eq 1 ] && [ -f "$input_dir/failures.tsv" ] && [ -f "$input_dir/shapes.txt" ]; then
    left_out="$input_dir/failures.tsv"
  elif [ "$status" -ne 0 ]; then
    step_failed preprocess "$status"
  fi
fi
if [ "$runner" = cpp ]; then
  step infer "$run_dir/build/ascend310_infer" --mindir_path "$mindir" --input_path "$input_dir" \
    --output_path "$run_dir/result" --device_id "$device_id"
else
  step infer python -m utils.infer310 --mindir_path "$mindir" --input_path "$input_dir" \
    --output_path "$run_dir/result" --device_target "$device_target" --device_id "$device_id"
fi
step postprocess python "$model_dir/postprocess.py" --result_path "$run_dir/result" --data_path "$data" \
  --output_dir "$run_dir"
echo "latency: $(tr '\n' ' ' < "$run_dir/result/summary.txt")"
echo "done: $run_dir"
if [ -n "${left_out:-}" ]; then
  echo "warning: the inputs listed in $left_out could not be used and are not in the metrics" >&2
  exit 1
fi
