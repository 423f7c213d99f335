#!/usr/bin/env bash
# Run the whole test suite: unit tests, real-data tests (when the data root has
# the datasets), the headless-Chromium check of a built plotly page, and every
# chapter notebook through nbmake (at the smoke size in each chapter's
# parameters-cell metadata). Prints the slowest tests and the wall time; the
# budget is 15 minutes on an idle 2-core machine. Extra arguments go to pytest
# (e.g. -m "not slow" while working).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
if [ -z "${MMLIB_DATA:-}" ] && [ -d ../shared/data ]; then
  export MMLIB_DATA="$(cd ../shared/data && pwd)"
fi
# The browser test needs Debian's Chromium; install it when we may.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[test] installing Debian chromium for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "[test] could not install chromium; the browser test will be skipped"
fi
export PATH="$root/.venv/bin:$PATH"
echo "[test] data root: ${MMLIB_DATA:-data/ (manifests only)}"
start=$(date +%s)
status=0
python -m pytest --nbmake --nbmake-timeout=900 -p no:cacheprovider --durations=15 --durations-min=5 "$@" || status=$?
echo "[test] wall time $(( $(date +%s) - start )) s for the test command (budget: 900 s on an idle 2-core machine)"
exit $status
