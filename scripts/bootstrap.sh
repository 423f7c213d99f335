#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv from a fresh
# clone, with only python3 present. Re-running is cheap: the install is skipped
# while pyproject.toml is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($py --version)"
  "$py" -m venv .venv
fi
stamp=".venv/.mmlib-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing mmlib and its pinned dependencies (torch 2.13.0 CPU wheel)"
  # torch first and alone, so that no other package's looser range can pull a
  # CUDA build from the registry.
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[book,test]"
  # piq is only the tests' independent FSIM implementation. Its metadata asks
  # for torchvision, which has no CPU wheel here, so it goes in without deps.
  .venv/bin/python -m pip install --quiet --no-deps "piq==0.8.0"
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mmlib)" >/dev/null
  echo "$want" > "$stamp"
fi
