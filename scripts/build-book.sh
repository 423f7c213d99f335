#!/usr/bin/env bash
# Build the whole book: environment, install, execute every chapter, HTML in
# _build/html. Warnings are errors (-W). Set MMLIB_DATA to the folder that holds
# the real datasets to show them; without it the chapters use the synthetic
# phantoms and say so.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
bash scripts/vendor-mathjax.sh  # offline equations: MathJax from the npm registry into _static/mathjax
if [ -z "${MMLIB_DATA:-}" ] && [ -d ../shared/data ]; then
  export MMLIB_DATA="$(cd ../shared/data && pwd)"
fi
echo "[book] data root: ${MMLIB_DATA:-data/ (manifests only: synthetic data)}"
export PATH="$root/.venv/bin:$PATH"
# Progress bars are for people watching a run; in a static page they freeze at 0%.
# The chapters print what the bars would have told (epochs, seconds) in their tables.
export TQDM_DISABLE=1
start=$(date +%s)
jupyter-book build . --path-output . -W -n --keep-going "$@"
echo "[book] built _build/html/index.html in $(( $(date +%s) - start )) s"
