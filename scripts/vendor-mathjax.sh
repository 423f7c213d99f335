#!/usr/bin/env bash
# Put MathJax 3 (the es5 browser build, CHTML output) in _static/mathjax/ so the built
# book renders its equations without network access (_config.yml points mathjax_path
# there). It comes from the npm registry with `npm pack`, once; the folder is
# git-ignored. Without npm the build goes on and says that equations will show as
# LaTeX source until MathJax is vendored.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/_static/mathjax"
version="${MATHJAX_VERSION:-3.2.2}"
if [ -f "$dest/tex-chtml.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "[mathjax] npm not found: equations will show as LaTeX source (install Node.js/npm and rebuild)" >&2
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mathjax@$version" >/dev/null && tar xzf "mathjax-$version.tgz")
mkdir -p "$dest.partial"
# The CHTML bundle and what it loads on demand (TeX extensions, fonts, menu); not the
# speech engine (sre) or the SVG / full bundles the book does not use.
(cd "$work/package/es5" && cp -r tex-chtml.js input output a11y adaptors ui "$dest.partial/")
rm -rf "$dest.partial/output/svg" "$dest.partial/output/svg.js"
cp "$work/package/LICENSE" "$dest.partial/"
rm -rf "$dest" && mv "$dest.partial" "$dest"
echo "[mathjax] vendored MathJax $version into _static/mathjax ($(du -sh "$dest" | cut -f1))"
