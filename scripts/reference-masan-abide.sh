#!/usr/bin/env bash
# Regenerate the committed reference run of MASAN's functional branch on real ABIDE-I region time series
# (autism vs control: ABIDE has no Alzheimer's labels): ten repetitions of the site- and diagnosis-stratified
# 7:3 split ("fold" k = repetition k) of book/masan/abide.md, beside nilearn's correlation and tangent
# connectomes with logistic regression and a site-only classifier; CPU, one fold kernel at a time with one
# thread. Reads $MMLIB_DATA/abide-roi-timeseries (never copied here); exports the small files with a
# provenance.json to results/masan/abide/.
#
# Usage, from anywhere:  MMLIB_DATA=/path/to/data bash scripts/reference-masan-abide.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=abide
COMMAND="bash scripts/reference-masan-abide.sh"

rm -rf "runs/masan/abide/$TAG"
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs masan/abide --folds 0-9 --tag "$TAG" --workers 1 --threads 1 \
  -p seed=0 -p n_folds=10 -p window=64 -p pretrain_epochs=3 -p max_epochs=20 -p device=cpu -p precision=fp32
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export masan/abide "$TAG" results/masan/abide \
  --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
