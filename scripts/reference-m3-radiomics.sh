#!/usr/bin/env bash
# Regenerate the committed reference runs of M3's classifier stage on REAL
# patients: book/m3/radiomics.md, 5 folds, seed 0, on
#   - gvm-radiomics (125 patients: 82 glioblastomas, 43 metastases), M3's own task;
#   - brats2017-radiomics (242 patients: 178 HGG, 64 LGG), a second real cohort.
# Each runs through the fold runner (one thread) into runs/m3/radiomics/<dataset>/
# (git-ignored) and is exported, with the SHA-256 of the tables read, to
# results/m3/<dataset>/.
#
# Needs the real tables under $MMLIB_DATA (default ../shared/data); it stops if
# they are absent (a real-data reference run never falls back to anything).
#
# Usage, from anywhere:  bash scripts/reference-m3-radiomics.sh
# Wall time: see results/m3/<dataset>/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export OMP_NUM_THREADS=1
DATA_ROOT="$(cd "${MMLIB_DATA:-../shared/data}" && pwd)"
export MMLIB_DATA="$DATA_ROOT"  # the chapter's data_root=None reads it; no absolute path lands in params.json
COMMAND="bash scripts/reference-m3-radiomics.sh"

for dataset in gvm-radiomics brats2017-radiomics; do
  if [ ! -d "$DATA_ROOT/$dataset" ]; then
    echo "error: $DATA_ROOT/$dataset is absent (set MMLIB_DATA)" >&2
    exit 1
  fi
  rm -rf "runs/m3/radiomics/$dataset"  # a reference run always starts from scratch
  GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
  start=$(date +%s)
  "$PYTHON" -m mmlib.runs m3/radiomics --folds 0-4 --tag "$dataset" --workers 1 --threads 1 \
    -p dataset="$dataset" -p seed=0 -p n_folds=5
  wall=$(( $(date +%s) - start ))
  "$PYTHON" -m mmlib.runs.export m3/radiomics "$dataset" "results/m3/$dataset" \
    --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
done
