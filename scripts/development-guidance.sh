#!/usr/bin/env bash
# Choose the glioma CNNs' training settings on a DEVELOPMENT draw of phantoms (seed 1), never on the
# reference folds (seed 0). One T1ce RMC per setting, fold 0 of 3, 300 factor-design phantoms, batch 8,
# 15 epochs; settings differ in learning rate, augmentation, input (the whole grid or a 16^3 box
# around the tumour) and the epoch kept (lowest validation loss or the last); each
# run records its training curves, its training-set AUC (does it fit?) and the AUC of the dev draw's
# own held-out fold. Exports every setting to results/guidance/development/<setting>/;
# book/guidance/development.md reads them and states the choice.
#
# Usage, from anywhere:  bash scripts/development-guidance.sh          (about 20 minutes on 2 cores)
# THREADS=1 caps each fold kernel at one thread (when the machine is shared).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
COMMAND="bash scripts/development-guidance.sh"
COMMON=(-p seed=1 -p n_folds=3 -p n_cases=300 -p "modalities=['t1ce']" -p max_epochs=15 -p batch_size=8
        -p precision=bf16 -p device=cpu -p phantom_design=factors)
LESION=(-p fit=lesion -p "spatial_size=[16,16,16]")
declare -A SETTINGS=(
  [grid-paper-lr1e-3-valloss]="-p lr=0.001 -p augment=paper -p fit=crop -p epoch_choice=val_loss"
  [lesion-off-lr1e-3-last]="-p lr=0.001 -p augment=off -p epoch_choice=last ${LESION[*]}"
  [lesion-off-lr3e-4-last]="-p lr=0.0003 -p augment=off -p epoch_choice=last ${LESION[*]}"
  [lesion-off-lr1e-4-last]="-p lr=0.0001 -p augment=off -p epoch_choice=last ${LESION[*]}"
  [lesion-flip-lr3e-4-last]="-p lr=0.0003 -p augment=flip -p epoch_choice=last ${LESION[*]}"
  [lesion-off-lr3e-4-valloss]="-p lr=0.0003 -p augment=off -p epoch_choice=val_loss ${LESION[*]}"
)
for name in "${!SETTINGS[@]}"; do
  tag="development-$name"
  rm -rf "runs/guidance/unimodal/$tag"
  GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$PYTHON" -m mmlib.runs guidance/unimodal --folds 0 --tag "$tag" ${THREADS:+--threads $THREADS} "${COMMON[@]}" \
    ${SETTINGS[$name]}
  wall=$(( $(date +%s) - start ))
  "$PYTHON" -m mmlib.runs.export guidance/unimodal "$tag" "results/guidance/development/$name" \
    --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
done
