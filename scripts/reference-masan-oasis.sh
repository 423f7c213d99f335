#!/usr/bin/env bash
# Regenerate the committed reference run of MASAN's structural branch on real OASIS-1 slices (CDR > 0 vs 0):
# ten repetitions of the stratified 7:3 split ("fold" k = repetition k) of book/masan/oasis.md, beside the 2-D
# H-FCN and PCA + logistic regression on the pixels; CPU, one fold kernel at a time with one thread. Reads
# $MMLIB_DATA/oasis1-slices (never copied here); the fold runner writes runs/masan/oasis/oasis/ (git-ignored) and
# the small files are exported with a provenance.json (checksums of every slice read) to results/masan/oasis/.
# Training settings are the phantom chapters' (lr 1e-3, BatchNorm, recalibration), with more epochs: the 2-D
# branch is about twenty times cheaper per subject than the 3-D model.
#
# Usage, from anywhere:  MMLIB_DATA=/path/to/data bash scripts/reference-masan-oasis.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=oasis
COMMAND="bash scripts/reference-masan-oasis.sh"

rm -rf "runs/masan/oasis/$TAG"
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs masan/oasis --folds 0-9 --tag "$TAG" --workers 1 --threads 1 \
  -p seed=0 -p n_folds=10 -p image_size=64 -p pretrain_epochs=3 -p max_epochs=20 -p hfcn_epochs=30 \
  -p device=cpu -p precision=fp32
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export masan/oasis "$TAG" results/masan/oasis \
  --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
