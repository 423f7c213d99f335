#!/usr/bin/env bash
# Regenerate the committed feature maps of Figure 5 (guidance paper) on the
# glioma phantoms, CPU. The committed runs keep no weights, so this script
#  1. picks the case from the committed predictions (results/guidance/tables-iii-iv
#     and results/guidance/table-vii/t1ce+flair+t2+t1; mmlib.papers.guidance.case_selection);
#  2. retrains that case's fold of both runs with their exact settings and seed,
#     keeping the weights under runs/checkpoints/figure-5/ (git-ignored): the
#     uni-modal RMCs (Tables III/IV) and the all-modality guidance model (Table VII);
#  3. executes book/guidance/figure-5.md with those weights, which checks them
#     against the committed probabilities and writes
#     results/guidance/figure-5/feature-maps.npz, then writes provenance.json beside it.
#
# Usage, from anywhere:  bash scripts/reference-guidance-figure-5.sh   (about 6 min on a 2-core CPU)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
PYTHON="${PYTHON:-.venv/bin/python}"
case "$PYTHON" in  # papermill below runs from book/guidance: the interpreter needs an absolute path
  /*) PYTHON_ABS="$PYTHON" ;;
  */*) PYTHON_ABS="$ROOT/$PYTHON" ;;
  *) PYTHON_ABS="$(command -v "$PYTHON")" ;;
esac
source scripts/guidance-reference-settings.sh
CKPT="$ROOT/runs/checkpoints/figure-5"
DEST=results/guidance/figure-5
COMMAND="bash scripts/reference-guidance-figure-5.sh"
GIT_AT_START=$("$PYTHON" -m mmlib.runs.provenance --require-clean)

rm -rf "$CKPT" runs/guidance/unimodal/figure-5 runs/guidance/guidance-model/figure-5
start=$(date +%s)
FOLD=$("$PYTHON" -c "
from mmlib.papers.guidance.case_selection import figure5_case
print(figure5_case('results/guidance/tables-iii-iv', 'results/guidance/table-vii/t1ce+flair+t2+t1',
                   ('t1ce', 'flair', 't2', 't1'), 't1ce+flair+t2+t1')[0])")
echo "Figure 5 case is in fold $FOLD"

# The Tables III/IV settings (scripts/reference-guidance-tables-iii-iv.sh), one fold, weights kept.
"$PYTHON" -m mmlib.runs guidance/unimodal --folds "$FOLD" --tag figure-5 \
  "${GUIDANCE_SETTINGS[@]}" -p max_epochs=$MAX_EPOCHS \
  -p checkpoint_dir="$CKPT/unimodal"
# The Table VII all-modality settings (scripts/reference-guidance-table-vii.sh), one fold, weights kept.
"$PYTHON" -m mmlib.runs guidance/guidance-model --folds "$FOLD" --tag figure-5 \
  "${GUIDANCE_SETTINGS[@]}" -p "secondaries=['flair', 't2', 't1']" -p stage1_epochs=$MAX_EPOCHS -p stage2_epochs=6 \
  -p checkpoint_dir="$CKPT/guidance"

"$PYTHON" -m jupytext --to ipynb --output "$CKPT/figure-5.ipynb" book/guidance/figure-5.md
(cd book/guidance && "$PYTHON_ABS" -m papermill "$CKPT/figure-5.ipynb" "$CKPT/figure-5-out.ipynb" -k python3 \
  -p fold "$FOLD" -p unimodal_checkpoints "$CKPT/unimodal" -p guidance_checkpoints "$CKPT/guidance")
wall=$(( $(date +%s) - start ))

"$PYTHON" - "$DEST" "$COMMAND" "$wall" "$SEED" "$N_CASES" "$FOLD" "$GIT_AT_START" <<'PY'
import json, sys
from mmlib.papers.guidance.protocol import PHANTOM_GENERATOR
from mmlib.runs.provenance import write_provenance

dest, command, wall, seed, n_cases, fold, git_at_start = sys.argv[1:]
params = {"fold": int(fold), "unimodal": "scripts/reference-guidance-tables-iii-iv.sh settings, this fold",
          "guidance": "scripts/reference-guidance-table-vii.sh settings, t1ce+flair+t2+t1, this fold"}
write_provenance(f"{dest}/provenance.json", command=command, params=params, seed=int(seed),
                 data_files_or_checksums={"dataset": "glioma-phantoms", "generator": PHANTOM_GENERATOR,
                                          "n_cases": int(n_cases), "shape_xyz": [32, 40, 32], "seed": int(seed)},
                 wall_time_s=float(wall), device="cpu", git_at_start=json.loads(git_at_start))
print(f"wrote {dest}/provenance.json")
PY
chmod 644 "$DEST"/*  # atomic writes leave owner-only modes
