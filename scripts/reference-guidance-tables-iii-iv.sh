#!/usr/bin/env bash
# Regenerate the committed reference run of Tables III/IV (guidance paper):
# the uni-modal RMC per modality and their probability ensemble, 3 folds on the
# synthetic glioma phantoms, CPU. Runs book/guidance/unimodal.md through the fold
# runner into runs/guidance/unimodal/tables-iii-iv/ (git-ignored), then exports
# the small files (per-fold metrics.json with predictions, params.json) with a
# provenance.json to results/guidance/tables-iii-iv/.
#
# Usage, from anywhere:  bash scripts/reference-guidance-tables-iii-iv.sh
# Took 19 min on a shared 2-core CPU (wall time in results/guidance/tables-iii-iv/provenance.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=tables-iii-iv
SEED=0
N_CASES=90
MAX_EPOCHS=25
COMMAND="bash scripts/reference-guidance-tables-iii-iv.sh"

rm -rf "runs/guidance/unimodal/$TAG"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs guidance/unimodal --folds 0-2 --tag "$TAG" \
  -p seed=$SEED -p n_folds=3 -p n_cases=$N_CASES -p max_epochs=$MAX_EPOCHS -p precision=bf16 -p device=cpu
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export guidance/unimodal "$TAG" results/guidance/tables-iii-iv \
  --command "$COMMAND" --wall-time "$wall" \
    --git-at-start "$GIT_AT_START"
