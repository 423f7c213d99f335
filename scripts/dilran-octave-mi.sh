#!/usr/bin/env bash
# Confirm once what the DILRAN paper's "MI" column computes (issue 12, item 3): run the
# authors' own MI&FMI/analysis_MI.m under GNU Octave on a few fused images saved as their
# save step saved them, and compare with mmlib's reading of it,
# mmlib.papers.dilran.image_metrics.entropy_saved_jpeg.
#
# Usage: bash scripts/dilran-octave-mi.sh PATH/TO/analysis_MI.m [OUT_JSON]
#
# analysis_MI.m is not part of this repository. Get it from the authors' public repository
# (Apache-2.0): https://github.com/simonZhou86/dilran, file "MI&FMI/analysis_MI.m", e.g.
#   git clone https://github.com/simonZhou86/dilran && ls "dilran/MI&FMI/analysis_MI.m"
# Set DILRAN_COMMIT=<hash> to record which commit of theirs it came from.
# Needs Octave and its image package (Debian: apt-get install octave octave-image).
# MMLIB_DATA (or --data-root via DATA_ROOT=) adds two AANLIB pairs when it holds them.
# OUT_JSON defaults to results/dilran/mi-check/mi-check.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
analysis_mi="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="${2:-results/dilran/mi-check/mi-check.json}"
command -v octave >/dev/null || { echo "octave not found (apt-get install octave octave-image)" >&2; exit 2; }
py="${PYTHON:-.venv/bin/python}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/images" "$work/m"
# analysis_MI.m must be called analysis_MI.m on Octave's path; copy it to a scratch folder.
cp "$analysis_mi" "$work/m/analysis_MI.m"

"$py" -m mmlib.papers.dilran.mi_check write "$work/images" ${DATA_ROOT:+--data-root "$DATA_ROOT"}

octave_version="$(octave --no-gui --quiet --eval 'disp(version())')"
image_version="$(octave --no-gui --quiet --eval "pkg load image; v = ver('image'); disp(v.Version)")"
# For each saved triplet: analysis_MI(ct, mri, fused) as their main.m calls it, and the image
# package's entropy of the fused file, one "name,analysis_MI,entropy_F" line each.
octave --no-gui --quiet --eval "
  pkg load image; addpath('$work/m');
  d = '$work/images/'; files = dir([d 'fused_*.jpg']);
  fid = fopen('$work/octave.csv', 'w');
  for i = 1:numel(files)
    name = files(i).name(7:end-4);
    A = imread([d 'ct_' name '.jpg']); B = imread([d 'mri_' name '.jpg']); F = imread([d 'fused_' name '.jpg']);
    fprintf(fid, '%s,%.12f,%.12f\n', name, analysis_MI(A, B, F), entropy(F));
  end
  fclose(fid);"
cat "$work/octave.csv"

"$py" -m mmlib.papers.dilran.mi_check combine "$work/images" "$work/octave.csv" --out "$out" \
  --analysis-mi "$analysis_mi" ${DILRAN_COMMIT:+--source-commit "$DILRAN_COMMIT"} \
  --octave-version "$octave_version" --image-package-version "$image_version" \
  --command "${MMLIB_DATA:+MMLIB_DATA=$MMLIB_DATA }${DILRAN_COMMIT:+DILRAN_COMMIT=$DILRAN_COMMIT }bash scripts/dilran-octave-mi.sh $(basename "$analysis_mi") $out"
