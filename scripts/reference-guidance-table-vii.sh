#!/usr/bin/env bash
# Regenerate the committed reference run of Table VII (guidance paper): the
# guidance-aided model trained by Algorithm 1 for each of the 8 subsets of the
# secondary modalities (T1ce always the primary), 3 folds each, on the synthetic
# glioma phantoms, CPU. Runs book/guidance/guidance-model.md through the fold
# runner into runs/guidance/guidance-model/table-vii-<subset>/ (git-ignored), then
# exports each subset's small files (per-fold metrics.json with predictions,
# params.json) with a provenance.json to results/guidance/table-vii/<subset>/.
#
# The data, split and training settings are those of the Tables III/IV run
# (scripts/guidance-reference-settings.sh), with stage1_epochs = its epochs and
# stage2_epochs = 6 (about the paper's 200:50 ratio). The subsets share one checkpoint folder, so stage 1 (T1ce only)
# is trained once per fold, by the first subset (T1ce alone), and reused by the
# seven others, whose wall times are stage 2 only.
#
# Usage, from anywhere:  bash scripts/reference-guidance-table-vii.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
source scripts/guidance-reference-settings.sh
STAGE1_EPOCHS=$MAX_EPOCHS
STAGE2_EPOCHS=6  # about the paper's 200:50 ratio of stage 1 to stage 2
CHECKPOINTS=runs/checkpoints/guidance-table-vii  # stage-1 (and stage-2) checkpoints, git-ignored
COMMAND="bash scripts/reference-guidance-table-vii.sh"

echo "Expect about an hour on a 2-core CPU: stage 1 (one DA_RMC per fold) once, then stage 2 for 7 subsets."

rm -rf runs/guidance/guidance-model/table-vii-* "$CHECKPOINTS"  # a reference run always starts from scratch
# The 8 subsets of ("flair", "t2", "t1") in that priority order; the empty subset first, so it trains stage 1.
SUBSETS=("[]" "['flair']" "['t2']" "['t1']" "['flair', 't2']" "['flair', 't1']" "['t2', 't1']" "['flair', 't2', 't1']")
for secondaries in "${SUBSETS[@]}"; do
  name=$("$PYTHON" -c "import sys, ast; print('+'.join(('t1ce', *ast.literal_eval(sys.argv[1]))))" "$secondaries")
  tag="table-vii-$name"
  echo "=== $name ==="
  GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
  start=$(date +%s)
  "$PYTHON" -m mmlib.runs guidance/guidance-model --folds 0-2 --tag "$tag" ${THREADS:+--threads $THREADS} \
    "${GUIDANCE_SETTINGS[@]}" -p "secondaries=$secondaries" -p stage1_epochs=$STAGE1_EPOCHS \
    -p stage2_epochs=$STAGE2_EPOCHS -p checkpoint_dir=$CHECKPOINTS
  wall=$(( $(date +%s) - start ))

  "$PYTHON" -m mmlib.runs.export guidance/guidance-model "$tag" "results/guidance/table-vii/$name" \
    --command "$COMMAND" --wall-time "$wall" \
    --git-at-start "$GIT_AT_START"
done
