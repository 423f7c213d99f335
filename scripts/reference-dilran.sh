#!/usr/bin/env bash
# Regenerate the DILRAN reference runs (Tables 1-2): the training chapter
# book/dilran/training.md on the real AANLIB CT-MRI pairs, once per split, through
# the fold runner (fold 0 of 1), scoring every fusion rule of Table 1 on the test
# pairs; then each finished run is exported with its provenance to results/dilran/<name>/.
#
#   bash scripts/reference-dilran.sh                    # split "paper", then split "series"
#   bash scripts/reference-dilran.sh series             # one split
#   EPOCHS=15 TRAIN_CROP=128 bash scripts/reference-dilran.sh
#                                                       # a shortened schedule for a CPU (the book's runs
#                                                       # before issue 12)
#   MODEL=msrpan bash scripts/reference-dilran.sh paper # a Table 2 baseline, trained the same way
#   VGG_WEIGHTS=/path/vgg16_bn-6c64b313.pth bash scripts/reference-dilran.sh
#                                                       # ImageNet perceptual net (default: fixed random VGG16-BN)
#   LAMBDA_PERCEPTUAL=0 bash scripts/reference-dilran.sh paper
#                                                       # the ablation without the perceptual term ("-no-perceptual")
#   THREADS=1 bash scripts/reference-dilran.sh          # cap the kernel's compute threads (default: all cores)
#
# Training elsewhere (a GPU): python -m mmlib.papers.dilran.train_segment trains the same model with
# the same parameters into runs/checkpoints/dilran-<name>/ (resumable, in segments). This script then
# finds the finished checkpoint there, trains nothing more, scores and records the run, and copies the
# segment records (segment-<first>-<last>.json: command, git state, device, wall time, data SHA-256)
# and the last checkpoint (checkpoint.pt, with the optimiser state) into
# results/dilran/<name>/training-segments/. A committed schedule that stopped short of 100 epochs
# goes on from there: copy that checkpoint.pt and fold-0/best.pt into runs/checkpoints/dilran-<name>/,
# run train_segment with the same parameters, then this script again.
#
# Defaults are the paper's settings (Sec. 2.3 and 3.1; mmlib.papers.dilran.paper.PAPER_SCHEDULE):
# EPOCHS=100 on whole 256 x 256 images (TRAIN_CROP unset), all training images, batch 4,
# Adam lr 1e-4, lambda 0.2 / 0.2, seed 3407. TRAIN_CROP=n trains on one random n x n crop per
# image and step (the model is fully convolutional; validation and test use whole images).
#
# Each run goes through the fold runner into runs/dilran/training/reference-<name>/fold-0/
# (git-ignored: the executed notebook, the kernel log, metrics.json, best.pt, split.json), with
# <name> = <split> for DILRAN and <model>-<split> for a baseline, and is then exported by
# python -m mmlib.runs.export to results/dilran/<name>/:
#   params.json            the run's parameters
#   provenance.json        this command, the git state at the start, parameters, seed, SHA-256 of
#                          every image read, wall time, device
#   fold-0/metrics.json    the record: mean and per-pair test scores of every rule, per-epoch
#                          loss history, the chosen epoch
#   fold-0/best.pt         weights of the epoch with the lowest validation loss (~0.9 MB for DILRAN)
#   fold-0/split.json      the train / val / test pair names
# The training checkpoints (checkpoint.pt with the optimiser state) live in
# runs/checkpoints/dilran-<name>/: a killed run started again resumes after its last finished
# epoch. The wall time recorded is that of the last invocation.
#
# Cost on this project's 2-core CPU in bf16 (channels-last, folded stem, freed memory kept):
# about 0.45 s per whole 256 x 256 training image on one thread (4-5 min an epoch with
# validation beside another job; 100 epochs, 7-8 h per
# split), or about 65 s an epoch with 128 x 128 crops; scoring the 8 rules on the 20 test
# pairs adds about 2.5 min. A GPU needs minutes. Start from a committed tree (CONTRIBUTING.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="$root/.venv/bin/python"
if [ -z "${MMLIB_DATA:-}" ] && [ -d ../shared/data ]; then
  export MMLIB_DATA="$(cd ../shared/data && pwd)"
fi
# A reference run is on the real pairs only: refuse rather than fall back to phantoms.
"$python" -c '
import sys
from mmlib.config import data_root
folder = data_root() / "harvard-aanlib" / "CT-MRI"
if not folder.is_dir():
    sys.exit(f"{folder}: no such folder; set MMLIB_DATA to the folder holding harvard-aanlib/")
'
device="$("$python" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
if [ "$device" = cuda ]; then precision=auto; else precision=bf16; fi
epochs="${EPOCHS:-100}"
model="${MODEL:-dilran}"
lambda_perceptual="${LAMBDA_PERCEPTUAL:-0.2}"
case "$model" in dilran) rules=table1 ;; msrpan|msdra) rules=own ;; *) echo "unknown MODEL '$model' (dilran | msrpan | msdra)" >&2; exit 2 ;; esac
crop="${TRAIN_CROP:-None}"
splits=("${@:-paper series}")
read -r -a splits <<< "${splits[*]}"
git_at_start="$("$python" -m mmlib.runs.provenance --require-clean)"
for split in "${splits[@]}"; do
  case "$split" in paper|series) ;; *) echo "unknown split '$split' (paper | series)" >&2; exit 2 ;; esac
  name="$split"
  if [ "$model" != dilran ]; then name="$model-$split"; fi
  env_prefix="EPOCHS=$epochs"
  if [ "$lambda_perceptual" != 0.2 ]; then
    case "$lambda_perceptual" in 0) name="$name-no-perceptual" ;; *) name="$name-perceptual-$lambda_perceptual" ;; esac
    env_prefix="$env_prefix LAMBDA_PERCEPTUAL=$lambda_perceptual"
  fi
  if [ "$crop" != None ]; then env_prefix="$env_prefix TRAIN_CROP=$crop"; fi
  if [ "$model" != dilran ]; then env_prefix="$env_prefix MODEL=$model"; fi
  echo "[reference-dilran] $model split=$split epochs=$epochs crop=$crop precision=$precision -> results/dilran/$name"
  vgg=()
  if [ -n "${VGG_WEIGHTS:-}" ]; then vgg=(-p "vgg_weights=$VGG_WEIGHTS"); fi
  start=$(date +%s)
  # out_dir is read by the chapter's kernel, whose working folder is book/dilran/.
  "$python" -m mmlib.runs dilran/training --folds 0 --tag "reference-$name" ${THREADS:+--threads $THREADS} \
    -p dataset=harvard-aanlib -p pair=CT-MRI -p "split=$split" -p "model_name=$model" -p "eval_rules=$rules" \
    -p "max_epochs=$epochs" -p image_size=256 -p max_train_images=None -p "train_crop=$crop" -p batch_size=4 \
    -p lr=1e-4 -p "lambda_perceptual=$lambda_perceptual" -p lambda_gradient=0.2 -p seed=3407 -p device=auto \
    -p "precision=$precision" "${vgg[@]}" -p "out_dir=../../runs/checkpoints/dilran-$name"
  wall=$(( $(date +%s) - start ))
  segments=(runs/checkpoints/"dilran-$name"/segment-*.json)
  run_device="$device"
  if [ -e "${segments[0]}" ]; then run_device="$device (scoring; training: see training-segments/)"; fi
  "$python" -m mmlib.runs.export dilran/training "reference-$name" "results/dilran/$name" \
    --command "$env_prefix bash scripts/reference-dilran.sh $split" --wall-time "$wall" --device "$run_device" \
    --git-at-start "$git_at_start"
  if [ -e "${segments[0]}" ]; then
    mkdir -p "results/dilran/$name/training-segments"
    cp "${segments[@]}" "runs/checkpoints/dilran-$name/checkpoint.pt" "results/dilran/$name/training-segments/"
  fi
done
