#!/usr/bin/env bash
# Run the whole test suite: unit tests, real-data tests (when the data root has
# the datasets), the headless-Chromium check of a built plotly page, and every
# chapter notebook through nbmake.
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
exec python -m pytest --nbmake --nbmake-timeout=900 -p no:cacheprovider "$@"
