#!/usr/bin/env bash
# Choose MASAN's and H-FCN's CPU training settings on a DEVELOPMENT draw of phantoms (phantom_seed 1000),
# never on the reference cohort (phantom_seed 0) or its splits. Each setting runs repetitions 0-1 of
# book/masan/masan-model.md at the reference size (206 phantoms, the Table 2 task) and records the
# training curves, the training-set fit and the dev draw's own held-out scores. Exports every setting
# to results/masan/development/<setting>/; book/masan/method.md reads them and states the choice.
#
# Usage, from anywhere:  bash scripts/reference-masan-development.sh      (about 30 minutes on one thread)
# One fold kernel at a time with one thread (the machine is shared).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
COMMAND="bash scripts/reference-masan-development.sh"
COMMON=(-p phantom_seed=1000 -p seed=0 -p n_cases=206 -p pretrain_epochs=2 -p max_epochs=6 -p hfcn_epochs=15
        -p device=cpu -p precision=fp32)
declare -A SETTINGS=(
  [chosen-lr1e-3]="-p lr=0.001 -p hfcn_lr=0.001"
  [lr1e-4]="-p lr=0.0001 -p hfcn_lr=0.0001"
  [no-classifier-norm]="-p classifier_norm=False -p methods=['masan']"
  [no-recalibration]="-p recalibrate=False"
)
for name in chosen-lr1e-3 lr1e-4 no-classifier-norm no-recalibration; do
  tag="development-$name"
  rm -rf "runs/masan/masan-model/$tag"
  GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$PYTHON" -m mmlib.runs masan/masan-model --folds 0-1 --tag "$tag" --workers 1 --threads 1 "${COMMON[@]}" \
    ${SETTINGS[$name]}
  wall=$(( $(date +%s) - start ))
  "$PYTHON" -m mmlib.runs.export masan/masan-model "$tag" "results/masan/development/$name" \
    --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
done
