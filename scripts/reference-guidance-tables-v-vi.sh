#!/usr/bin/env bash
# Regenerate the committed reference run of Tables V/VI (guidance paper): DA_RMC
# (RMC + dual attention), one per modality, and their probability ensemble,
# 3 folds on the synthetic glioma phantoms, CPU. Runs book/guidance/unimodal.md
# with model=da_rmc through the fold runner into runs/guidance/unimodal/tables-v-vi/
# (git-ignored), then exports the small files (per-fold metrics.json with
# predictions, params.json) with a provenance.json to results/guidance/tables-v-vi/.
#
# Every other setting is that of the committed RMC run of Tables III/IV
# (scripts/guidance-reference-settings.sh), so book/guidance/tables-v-vi.md can pair
# RMC and DA_RMC fold by fold (it refuses runs that differ in anything but the model).
#
# Usage, from anywhere:  bash scripts/reference-guidance-tables-v-vi.sh
# Expect somewhat longer than the RMC run (19 min on a shared 2-core CPU): the
# dual attention adds a little work per volume.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=tables-v-vi
MODEL=da_rmc
source scripts/guidance-reference-settings.sh
COMMAND="bash scripts/reference-guidance-tables-v-vi.sh"

rm -rf "runs/guidance/unimodal/$TAG"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs guidance/unimodal --folds 0-2 --tag "$TAG" ${THREADS:+--threads $THREADS} \
  "${GUIDANCE_SETTINGS[@]}" -p max_epochs=$MAX_EPOCHS -p model=$MODEL
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export guidance/unimodal "$TAG" results/guidance/tables-v-vi \
  --command "$COMMAND" --wall-time "$wall" \
    --git-at-start "$GIT_AT_START"
