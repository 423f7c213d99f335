#!/usr/bin/env bash
# Regenerate the committed reference run of Table VIII's MMD-VAE row and the
# radiomics baselines (guidance paper) on REAL data: the BraTS 2017 radiomics
# tables (242 patients), 3 folds, seed 0, CPU, the chapter's defaults otherwise.
# Runs book/guidance/radiomics.md through the fold runner into
# runs/guidance/radiomics/radiomics/ (git-ignored), then exports the small files
# (per-fold metrics.json with predictions, params.json) with a provenance.json
# holding the SHA-256 of the three CSVs to results/guidance/radiomics/.
#
# Needs the real tables: $MMLIB_DATA/brats2017-radiomics (default ../shared/data);
# it stops if they are absent (a reference run never falls back to phantoms).
#
# Usage, from anywhere:  bash scripts/reference-guidance-radiomics.sh
# Wall time: see results/guidance/radiomics/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=radiomics
SEED=0
DATA_ROOT="$(cd "${MMLIB_DATA:-../shared/data}" && pwd)"
TABLES="$DATA_ROOT/brats2017-radiomics"
COMMAND="bash scripts/reference-guidance-radiomics.sh"

csvs=("$TABLES"/grades_*_radiomics.csv)
if [ "${#csvs[@]}" -ne 3 ] || [ ! -f "${csvs[0]}" ]; then
  echo "error: expected the three BraTS 2017 radiomics CSVs in $TABLES (set MMLIB_DATA)" >&2
  exit 1
fi

export MMLIB_DATA="$DATA_ROOT"  # the chapter's data_root=None reads it; no absolute path lands in params.json
rm -rf "runs/guidance/radiomics/$TAG"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs guidance/radiomics --folds 0-2 --tag "$TAG" \
  -p seed=$SEED -p n_folds=3 -p dataset=brats2017-radiomics
wall=$(( $(date +%s) - start ))

for record in runs/guidance/radiomics/"$TAG"/fold-*/metrics.json; do  # never export a phantom fallback
  "$PYTHON" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["extra"]["dataset"] != "brats2017-radiomics")' "$record" \
    || { echo "error: $record is not a run on the real radiomics tables; not exported" >&2; exit 1; }
done
# The provenance's data are the SHA-256 of the three CSVs, as each fold recorded them.
"$PYTHON" -m mmlib.runs.export guidance/radiomics "$TAG" results/guidance/radiomics \
  --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
