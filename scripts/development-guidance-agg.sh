#!/usr/bin/env bash
# Choose AGG's training length on the DEVELOPMENT draw of phantoms (seed 1), never on the reference
# folds (seed 0). With the shared 15 epochs (scripts/guidance-reference-settings.sh) AGG was still
# learning when training stopped: on one reference fold its training-set AUC was 0.895 and its
# training loss above chance. Here AGG alone (book/guidance/fusion-baselines.md, methods=['agg'])
# trains for 15, 30 and 45 epochs on fold 0 of the development draw, with every other setting of the
# reference runs, keeping the epoch of lowest validation loss. Each run is exported to
# results/guidance/development-agg/agg-e<epochs>/; book/guidance/table-viii.md reads them and
# applies the rule fixed before they ran: of the lengths whose kept network fits its training set
# (mmlib.papers.guidance.results.fit_table), the one with the best held-out AUC on the development
# fold.
#
# Usage, from anywhere:  bash scripts/development-guidance-agg.sh      (about 15 minutes, one thread)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
COMMAND="bash scripts/development-guidance-agg.sh"
source scripts/guidance-reference-settings.sh
SETTINGS=("${GUIDANCE_SETTINGS[@]}" -p seed=1 -p "methods=['agg']")  # the later seed=1 wins
for epochs in 15 30 45; do
  tag="development-agg-e$epochs"
  rm -rf "runs/guidance/fusion-baselines/$tag"
  GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
  start=$(date +%s)
  "$PYTHON" -m mmlib.runs guidance/fusion-baselines --folds 0 --tag "$tag" ${THREADS:+--threads $THREADS} \
    "${SETTINGS[@]}" -p max_epochs=$epochs
  wall=$(( $(date +%s) - start ))
  "$PYTHON" -m mmlib.runs.export guidance/fusion-baselines "$tag" "results/guidance/development-agg/agg-e$epochs" \
    --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
done
