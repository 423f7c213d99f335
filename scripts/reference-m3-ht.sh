#!/usr/bin/env bash
# Regenerate the committed reference run of M3's Tables 4, 6 and 7 and Figures 4
# (right) and 7: haemorrhagic transformation, 5 folds on 71 synthetic stroke
# phantoms (11 HT, the paper's Table 2), CPU, one thread, with the Direct CNN of
# Table 7. Runs book/m3/fold.md through the fold runner into runs/m3/fold/ht/
# (git-ignored) and exports each fold's record with a provenance.json to
# results/m3/ht/.
#
# Settings as the tumour run (scripts/reference-m3-tumour.sh): width 0.25, 120
# epochs, Adam lr 1e-3 with left-right flips, bf16, average + max pooling; plus
# direct_cnn=True. Networks and features in runs/m3/checkpoints/ht/ (git-ignored).
#
# Usage, from anywhere:  bash scripts/reference-m3-ht.sh
# Wall time: see results/m3/ht/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export OMP_NUM_THREADS=1
TAG=ht
CHECKPOINTS=runs/m3/checkpoints/$TAG
COMMAND="bash scripts/reference-m3-ht.sh"

rm -rf "runs/m3/fold/$TAG" "$CHECKPOINTS"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs m3/fold --folds 0-4 --tag "$TAG" --workers 1 --threads 1 \
  -p dataset=stroke-phantoms -p seed=0 -p n_folds=5 -p n_cases=71 -p max_epochs=120 -p width=0.25 \
  -p lr=0.001 -p augment=flip -p precision=bf16 -p device=cpu -p direct_cnn=true \
  -p checkpoint_dir="../../$CHECKPOINTS"
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export m3/fold "$TAG" results/m3/ht \
  --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
