#!/usr/bin/env bash
# Regenerate the committed reference run of Table VIII's fusion baselines
# (guidance paper): pixel, feature and decision fusion on the RMC backbone and
# AGG on mask-cropped tumour boxes, 3 folds on the synthetic glioma phantoms,
# CPU, with exactly the settings of the Tables III/IV run (same cases, folds,
# epochs, width, seed). Runs book/guidance/fusion-baselines.md through the fold
# runner into runs/guidance/fusion-baselines/table-viii/ (git-ignored), then
# exports the small files (per-fold metrics.json with predictions, params.json)
# with a provenance.json to results/guidance/table-viii/.
#
# The other rows of Table VIII come from committed runs too: RMC (T1ce) from
# results/guidance/tables-iii-iv, the guidance model from
# results/guidance/table-vii/t1ce+flair+t2+t1, and the MMD-VAE from
# scripts/reference-guidance-radiomics.sh (real BraTS 2017 radiomics).
#
# AGG crops its own tumour box at the phantoms' resolution (the chapter's agg_roi_size,
# 16 x 24 x 24): a 16^3 box would leave its encoder a single voxel. It trains in fp32 (the
# chapter's agg_precision: in bf16 its CPU backward is not reproducible and sometimes non-finite)
# and for AGG_EPOCHS epochs, the length chosen on the development draw by
# scripts/development-guidance-agg.sh (with the shared 15 it had not fitted its training set).
#
# Usage, from anywhere:  bash scripts/reference-guidance-table-viii.sh
# THREADS=1 WORKERS=1 runs one fold at a time on one thread (when the machine is shared).
# Wall time: see results/guidance/table-viii/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TAG=table-viii
AGG_EPOCHS=45  # results/guidance/development-agg: the length that fits with the best development AUC
source scripts/guidance-reference-settings.sh
COMMAND="bash scripts/reference-guidance-table-viii.sh"

rm -rf "runs/guidance/fusion-baselines/$TAG"  # a reference run always starts from scratch
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
start=$(date +%s)
"$PYTHON" -m mmlib.runs guidance/fusion-baselines --folds 0-2 --tag "$TAG" ${THREADS:+--threads $THREADS} ${WORKERS:+--workers $WORKERS} \
  "${GUIDANCE_SETTINGS[@]}" -p max_epochs=$MAX_EPOCHS -p agg_epochs=$AGG_EPOCHS
wall=$(( $(date +%s) - start ))

"$PYTHON" -m mmlib.runs.export guidance/fusion-baselines "$TAG" results/guidance/table-viii \
  --command "$COMMAND" --wall-time "$wall" \
    --git-at-start "$GIT_AT_START"
