#!/usr/bin/env bash
# Regenerate the committed reference run of MASAN's Figure 3 (MASAN's attention fusion and element-wise addition, AD vs NC):
# ten repetitions of the stratified 7:3 split ("fold" k = repetition k) of book/masan/masan-model.md on the
# paired Alzheimer's phantoms (206 subjects, phantom_seed 0), CPU, one fold kernel at a time with one thread.
# The fold runner writes runs/masan/masan-model/figure-3/ (git-ignored); the small files (per-repetition
# metrics.json with test predictions, training curves and fusion weights; params.json) are exported with a
# provenance.json to results/masan/figure-3/. The settings were chosen on the development draw
# (scripts/reference-masan-development.sh, phantom_seed 1000).
#
# Usage, from anywhere:  bash scripts/reference-masan-figure-3.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=figure-3
COMMAND="bash scripts/reference-masan-figure-3.sh"

rm -rf "runs/masan/masan-model/$TAG"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs masan/masan-model --folds 0-9 --tag "$TAG" --workers 1 --threads 1 \
  -p seed=0 -p phantom_seed=0 -p n_folds=10 -p task=ad-vs-nc -p "methods=['masan','masan-add']" -p n_cases=206 \
  -p pretrain_epochs=2 -p max_epochs=6 -p hfcn_epochs=15 -p device=cpu -p precision=fp32
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export masan/masan-model "$TAG" results/masan/figure-3 \
  --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
