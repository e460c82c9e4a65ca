#!/usr/bin/env bash
# Download, verify (md5) and extract LibriSpeech (openslr resource 12) for jasper/.
#
#   bash scripts/download_librispeech.sh [--dry_run] [DEST] [SUBSET ...]
#
# DEST (default: data) receives the .tar.gz archives and, after extraction, DEST/LibriSpeech/<subset>/...
# SUBSETs (default: all seven): train-clean-100 train-clean-360 train-other-500 dev-clean dev-other
# test-clean test-other. Downloads resume where they stopped (wget -c / curl -C -); an archive whose md5 is
# wrong is reported and removed (run the script again); an extracted subset is not extracted again.
# --dry_run prints what would be done without touching the network or the disk.
# LIBRISPEECH_MIRROR overrides the download base URL (e.g. a local mirror).
# Then: python jasper/preprocess.py --data_dir DEST/LibriSpeech --output_dir DEST/manifests
set -euo pipefail

MIRROR="${LIBRISPEECH_MIRROR:-https://www.openslr.org/resources/12}"
ALL_SUBSETS=(train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other)
declare -A MD5=(
  [train-clean-100]=2a93770f6d5c6c964bc36631d331a522
  [train-clean-360]=c0e676e450a7ff2f54aeade5171606fa
  [train-other-500]=d1a0fd59409feb2c614ce4d30c387708
  [dev-clean]=42e2234ba48799c1f50f24a7926300a1
  [dev-other]=c8d0bcc9cca99d4f8b62fcc847357931
  [test-clean]=32fa31d27d2e1cad72775fee3f4849a9
  [test-other]=fb5a50374b501bb3bac4815ee91d3135
)

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

DRY_RUN=0
POSITIONAL=()
for arg in "$@"; do
  case "$arg" in
    --dry_run|--dry-run) DRY_RUN=1 ;;
    -h|--help) usage ;;
    -*) echo "download_librispeech.sh: unknown option $arg" >&2; usage ;;
    *) POSITIONAL+=("$arg") ;;
  esac
done

DEST="${POSITIONAL[0]:-data}"
SUBSETS=("${POSITIONAL[@]:1}")
if [ ${#SUBSETS[@]} -eq 0 ]; then
  SUBSETS=("${ALL_SUBSETS[@]}")
fi
for subset in "${SUBSETS[@]}"; do
  if [ -z "${MD5[$subset]+set}" ]; then
    echo "download_librispeech.sh: unknown subset '$subset' (known: ${ALL_SUBSETS[*]})" >&2
    usage
  fi
done

run() {  # print the command; run it unless --dry_run
  echo "+ $*"
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

fetch() {  # resumable download of $1 to $2
  if command -v wget >/dev/null 2>&1; then
    run wget -c --progress=dot:giga -O "$2" "$1"
  elif command -v curl >/dev/null 2>&1; then
    run curl -fL -C - -o "$2" "$1"
  else
    echo "download_librispeech.sh: neither wget nor curl is installed" >&2
    exit 1
  fi
}

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then md5sum "$1" | cut -d' ' -f1; else md5 -q "$1"; fi
}

run mkdir -p "$DEST"
for subset in "${SUBSETS[@]}"; do
  archive="$DEST/$subset.tar.gz"
  marker="$DEST/LibriSpeech/$subset/.extracted"
  if [ -f "$marker" ]; then
    echo "$subset: already extracted in $DEST/LibriSpeech/$subset"
    continue
  fi
  fetch "$MIRROR/$subset.tar.gz" "$archive"
  echo "$subset: checking md5 ${MD5[$subset]}"
  if [ "$DRY_RUN" -eq 0 ]; then
    actual="$(md5_of "$archive")"
    if [ "$actual" != "${MD5[$subset]}" ]; then
      echo "download_librispeech.sh: $archive has md5 $actual, expected ${MD5[$subset]}: removed, run again" >&2
      rm -f "$archive"
      exit 1
    fi
  fi
  run tar -xzf "$archive" -C "$DEST"
  run touch "$marker"
done
echo "LibriSpeech subsets ready in $DEST/LibriSpeech: ${SUBSETS[*]}"
echo "next: python jasper/preprocess.py --data_dir $DEST/LibriSpeech --output_dir $DEST/manifests"
