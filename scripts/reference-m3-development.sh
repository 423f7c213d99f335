#!/usr/bin/env bash
# The M3 part's development runs: how the segmentation settings were chosen, on a
# development draw of tumour phantoms (seed 1: a different cohort from every
# reference run, whose test folds are never used to choose anything).
#
# Three settings of book/m3/fold.md, fold 0 of 5 of the seed-1 draw (100 phantoms,
# T1ce, T2, FLAIR, width 0.25, 40 epochs, bf16): Adam at lr 1e-3 with left-right
# flips, at lr 1e-4 with flips, and at lr 1e-3 with the heavy flip + affine
# augmentation. (lr 1e-4 with the heavy augmentation was left out to save CPU
# time: lr 1e-4 already fitted least of the three with flips alone.) Then the winner,
# lr 1e-3 with flips, at 120 epochs (lr1e-3-flip-e120), since at 40 it had not yet
# fitted its training masks: the epoch budget of the reference runs. Each runs through the
# fold runner (one fold, one thread) into runs/m3/fold/dev-<setting>/ and is
# exported with provenance to results/m3/development/<setting>/. The chapters read
# them to say which setting the reference runs use and why.
#
# Usage, from anywhere:  bash scripts/reference-m3-development.sh [SETTING ...]
# A SETTING is lr<rate>-<augment>[-e<epochs>], e.g. lr1e-3-flip-e120 (40 epochs when no -e);
# without arguments the four settings above run.
# Wall time per setting: see results/m3/development/<setting>/provenance.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
export OMP_NUM_THREADS=1
CHECKPOINTS=runs/m3/checkpoints/development  # the networks, git-ignored; relative to book/m3 below
COMMON=(-p seed=1 -p n_folds=5 -p n_cases=100 -p width=0.25 -p precision=bf16 -p device=cpu
        -p checkpoint_dir="../../$CHECKPOINTS")
COMMAND="bash scripts/reference-m3-development.sh${*:+ $*}"
SETTINGS=("$@")
[ ${#SETTINGS[@]} -gt 0 ] || SETTINGS=(lr1e-3-flip lr1e-4-flip lr1e-3-affine lr1e-3-flip-e120)

rm -rf "$CHECKPOINTS"
for setting in "${SETTINGS[@]}"; do
  [[ $setting =~ ^lr([0-9.e-]+)-([a-z]+)(-e([0-9]+))?$ ]] || { echo "bad setting $setting" >&2; exit 2; }
  lr=${BASH_REMATCH[1]}; augment=${BASH_REMATCH[2]}; epochs=${BASH_REMATCH[4]:-40}
  tag="dev-$setting"
  rm -rf "runs/m3/fold/$tag"  # a reference run always starts from scratch
  GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)
  start=$(date +%s)
  "$PYTHON" -m mmlib.runs m3/fold --folds 0 --tag "$tag" --workers 1 --threads 1 \
    "${COMMON[@]}" -p lr="$lr" -p augment="$augment" -p max_epochs="$epochs"
  wall=$(( $(date +%s) - start ))
  "$PYTHON" -m mmlib.runs.export m3/fold "$tag" "results/m3/development/$setting" \
    --command "$COMMAND" --wall-time "$wall" --git-at-start "$GIT_AT_START"
done
