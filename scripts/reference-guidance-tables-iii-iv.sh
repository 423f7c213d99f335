#!/usr/bin/env bash
# Regenerate the committed reference run of Tables III/IV (guidance paper):
# the uni-modal RMC per modality and their probability ensemble, 3 folds on the
# synthetic glioma phantoms, CPU. Runs book/guidance/unimodal.md through the fold
# runner into runs/guidance/unimodal/tables-iii-iv/ (git-ignored), then exports
# the small files (per-fold metrics.json with predictions, params.json) with a
# provenance.json to results/guidance/tables-iii-iv/.
#
# Data and training settings: scripts/guidance-reference-settings.sh (shared by Tables III-VIII).
# Usage, from anywhere:  bash scripts/reference-guidance-tables-iii-iv.sh
# Wall time: results/guidance/tables-iii-iv/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=tables-iii-iv
source scripts/guidance-reference-settings.sh
COMMAND="bash scripts/reference-guidance-tables-iii-iv.sh"

rm -rf "runs/guidance/unimodal/$TAG"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs guidance/unimodal --folds 0-2 --tag "$TAG" ${THREADS:+--threads $THREADS} \
  "${GUIDANCE_SETTINGS[@]}" -p max_epochs=$MAX_EPOCHS
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export guidance/unimodal "$TAG" results/guidance/tables-iii-iv \
  --command "$COMMAND" --wall-time "$wall" \
    --git-at-start "$GIT_AT_START"
