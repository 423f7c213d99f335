#!/usr/bin/env bash
# Regenerate the committed reference run of M3's Tables 3 and 5 and Figures 4
# (left) and 6: glioma vs metastasis, 5 folds on 100 synthetic tumour phantoms
# (metastasis share 132/544 of the paper's Table 1), CPU, one thread. Runs
# book/m3/fold.md through the fold runner into runs/m3/fold/tumour/ (git-ignored)
# and exports each fold's record (every method's test scores, the Dice per
# patient, the training curves) with a provenance.json to results/m3/tumour/.
#
# Settings: width 0.25, 120 epochs per network, Adam lr 1e-3 with left-right flips
# (learning rate, augmentation and epochs chosen on the development draw:
# scripts/reference-m3-development.sh),
# bf16 autocast, average + max pooling; the networks and features are kept in
# runs/m3/checkpoints/tumour/ (git-ignored).
#
# Usage, from anywhere:  bash scripts/reference-m3-tumour.sh
# Wall time: see results/m3/tumour/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export OMP_NUM_THREADS=1
TAG=tumour
CHECKPOINTS=runs/m3/checkpoints/$TAG
COMMAND="bash scripts/reference-m3-tumour.sh"

rm -rf "runs/m3/fold/$TAG" "$CHECKPOINTS"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs m3/fold --folds 0-4 --tag "$TAG" --workers 1 --threads 1 \
  -p dataset=tumour-phantoms -p seed=0 -p n_folds=5 -p n_cases=100 -p max_epochs=120 -p width=0.25 \
  -p lr=0.001 -p augment=flip -p precision=bf16 -p device=cpu -p checkpoint_dir="../../$CHECKPOINTS"
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export m3/fold "$TAG" results/m3/tumour \
  --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
