"""A plotly figure made through mmlib shows in the built HTML, checked in headless Chromium.

Plotly 7 inside a kernel defaults to a mimetype that myst-nb drops; mmlib.viz
sets a renderer that also emits HTML with plotly.js embedded. This test builds a
one-page book with the project's own _config.yml and asks Chromium whether the
figure was drawn (plotly draws into ``svg.main-svg``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mmlib.config import REPO_ROOT
from myst_pages import myst_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

PAGE = myst_page(textwrap.dedent(
    """\
    # Plot check

    ```{code-cell} ipython3
    import mmlib.viz  # sets the book's plotly renderer
    import plotly.graph_objects as go
    go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 0, 1], name="mmlib-check")).show()
    ```
    """
))


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it when run as root)")
    return exe


def rendered_dom(exe: str, html: Path, profile: Path) -> str:
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", html.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout


@pytest.fixture(scope="module")
def built_page(tmp_path_factory):
    exe = chromium()
    root = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config["exclude_patterns"] = ["_build"]
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (root / "index.md").write_text(PAGE)
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(root), "-W", "-n"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return exe, root / "_build" / "html" / "index.html", root / "profile"


def test_plotly_figure_is_drawn_in_chromium(built_page):
    exe, html, profile = built_page
    dom = rendered_dom(exe, html, profile)
    assert "plotly-graph-div" in dom, "the figure's div is missing from the page"
    assert 'class="main-svg"' in dom, "plotly.js did not draw the figure (no svg.main-svg)"
