#!/usr/bin/env bash
# Helpers sourced by the launchers (not run on its own).
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZOO_MODELS="tasnet dprnn ecapa_tdnn jasper"

zoo_die_usage() { echo "$1" >&2; exit 2; }

zoo_check_model() {  # MODEL -> exits 2 unless it is a model folder with train.py
  local model="$1" m
  for m in $ZOO_MODELS; do
    if [ "$m" = "$model" ]; then
      [ -f "$ZOO_ROOT/$model/train.py" ] || zoo_die_usage "error: $model/train.py does not exist yet"
      return 0
    fi
  done
  zoo_die_usage "error: unknown MODEL '$model' (one of: $ZOO_MODELS)"
}

zoo_check_device() {
  case "$1" in CPU|GPU|Ascend) ;; *) zoo_die_usage "error: DEVICE_TARGET must be CPU, GPU or Ascend, got '$1'" ;; esac
}

zoo_check_int() {  # NAME VALUE
  [[ "$2" =~ ^[0-9]+$ ]] || zoo_die_usage "error: $1 must be a non-negative integer, got '$2'"
}

zoo_python_env() {  # use the repo's .venv when the caller has no environment active
  if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$ZOO_ROOT/.venv/bin/python" ]; then
    # shellcheck disable=SC1091
    source "$ZOO_ROOT/.venv/bin/activate"
  fi
  export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}" GLOG_v="${GLOG_v:-3}"
}

# zoo_abs_args OUT_ARRAY_NAME ARGS...: the runs happen inside their own folder, so relative paths
# given by the user (values of --*dir, --*path, --*manifest, --*file, --trials, --input, or any
# value that names an existing file or folder) are made absolute against the caller's directory.
zoo_abs_args() {
  local -n out_ref="$1"; shift
  out_ref=()
  local previous="" arg
  for arg in "$@"; do
    if [[ "$arg" != --* && "$arg" != /* && -n "$previous" ]] &&
       { [[ "$previous" =~ (dir|path|manifest|file|trials|input|name)$ ]] || [ -e "$arg" ]; }; then
      arg="$PWD/$arg"
    fi
    out_ref+=("$arg")
    if [[ "$arg" == --* ]]; then previous="$arg"; else previous=""; fi
  done
}

zoo_has_flag() {  # FLAG ARGS... -> 0 when FLAG (or FLAG=...) is among ARGS
  local flag="$1" arg; shift
  for arg in "$@"; do [[ "$arg" == "$flag" || "$arg" == "$flag="* ]] && return 0; done
  return 1
}

zoo_run_dir() {  # KIND MODEL -> prints a new run folder under $ZOO_RUNS (default runs/)
  local dir
  dir="${ZOO_RUNS:-$ZOO_ROOT/runs}/$2_$1_$(date +%Y%m%d-%H%M%S)_$$"
  mkdir -p "$dir"
  (cd "$dir" && pwd)
}
