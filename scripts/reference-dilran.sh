#!/usr/bin/env bash
# Regenerate the DILRAN reference run (issue 4, sec. 6): the training chapter
# book/dilran/training.md at the paper's settings (Sec. 2.3 and 3.1: 100 epochs,
# 256 x 256, all training images, batch 4, Adam lr 1e-4, lambda 0.2 / 0.2,
# seed 3407) on the real AANLIB CT-MRI pairs, once per split.
#
#   bash scripts/reference-dilran.sh              # split "paper", then split "series"
#   bash scripts/reference-dilran.sh series       # one split
#   VGG_WEIGHTS=/path/vgg16_bn-6c64b313.pth bash scripts/reference-dilran.sh
#                                                 # ImageNet perceptual net (default: fixed random VGG16-BN)
#
# Each split writes into results/dilran/<split>/:
#   best.pt          weights of the epoch with the lowest validation loss (~0.9 MB)
#   checkpoint.pt    last epoch with the optimiser state (~2.6 MB), for resuming
#   metrics.json     mean and per-pair test scores (SFNN-max), per-epoch loss history
#   split.json       the train / val / test pair names
#   provenance.json  this command, git commit, parameters, seed, SHA-256 of every image read,
#                    wall time, device
# and the fold runner keeps the executed notebook in runs/dilran/training/reference-<split>/.
#
# The chapter runs through the fold runner (python -m mmlib.runs) as fold 0 of 1.
# A killed run started again resumes after its last finished epoch (checkpoint.pt).
# Precision: bf16 autocast on a CPU (about 5x faster matrix work on this
# project's CPU; measured 1.6 s per 256 x 256 training image in bf16 vs 2.9 s
# in fp32 on 2 idle cores: about 8 minutes an epoch, 13 hours per split),
# "auto" (CUDA AMP) on a GPU.
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
precision="$("$python" -c 'import torch; print("auto" if torch.cuda.is_available() else "bf16")')"
splits=("${@:-paper series}")
read -r -a splits <<< "${splits[*]}"
for split in "${splits[@]}"; do
  case "$split" in paper|series) ;; *) echo "unknown split '$split' (paper | series)" >&2; exit 2 ;; esac
  out="$root/results/dilran/$split"
  echo "[reference-dilran] split=$split precision=$precision -> results/dilran/$split"
  vgg=()
  if [ -n "${VGG_WEIGHTS:-}" ]; then vgg=(-p "vgg_weights=$VGG_WEIGHTS"); fi
  "$python" -m mmlib.runs dilran/training --folds 0 --tag "reference-$split" \
    -p dataset=harvard-aanlib -p pair=CT-MRI -p "split=$split" \
    -p max_epochs=100 -p image_size=256 -p max_train_images=None -p batch_size=4 -p lr=1e-4 \
    -p lambda_perceptual=0.2 -p lambda_gradient=0.2 -p seed=3407 -p device=auto \
    -p "precision=$precision" "${vgg[@]}" \
    -p "out_dir=$out" -p "run_command=bash scripts/reference-dilran.sh $split"
done
