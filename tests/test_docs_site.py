"""The built docs site works with no network: its pages name no remote script or style, and its
Mermaid diagrams render in a real headless browser (Chromium) that cannot reach any host.

The site's mermaid.js comes from the npm registry at set-up time (``scripts/mermaid_asset.py``,
a hook of ``mkdocs.yml``); these tests build the site as a reader would, ``mkdocs build --strict``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from headless_browser import NO_NETWORK, screenshot

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # a site build (about 10 s) and a browser

#: mkdocs-material draws a flowchart node on --md-accent-fg-color--transparent (#526cfe at 0x1a/0xff)
NODE_FILL = tuple(round(c * 0x1A / 0xFF + 255 * (1 - 0x1A / 0xFF)) for c in (0x52, 0x6C, 0xFE))

#: a tag that makes the browser fetch a script or a style sheet, or a module import, from elsewhere
REMOTE_SCRIPT_OR_STYLE = re.compile(
    r"""<script[^>]*\ssrc=["']?(?:https?:)?//[^>]*>"""
    r"""|<link[^>]*\shref=["']?(?:https?:)?//[^>]*>"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//"""
    r"""|\bimport\s*\(\s*["'](?:https?:)?//""",
    re.I,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (scripts/test.sh installs it)")
    target = tmp_path_factory.mktemp("docs-site") / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return target


def node_pixels(shot: Path) -> int:
    """How many pixels of a screenshot have (within rounding) the fill of a Mermaid node."""
    from PIL import Image

    return sum(
        count for count, colour in Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 22)
        if all(abs(a - b) <= 2 for a, b in zip(colour, NODE_FILL))
    )


def test_no_page_of_the_site_loads_a_script_or_style_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    remote = {
        str(page.relative_to(site)): found
        for page in pages
        if (found := REMOTE_SCRIPT_OR_STYLE.findall(page.read_text(encoding="utf-8")))
    }
    assert remote == {}


def test_the_site_carries_its_own_mermaid_and_its_licence(site):
    script = site / "assets" / "javascripts" / "mermaid.min.js"
    assert script.stat().st_size > 1_000_000  # the whole of mermaid, one file
    assert "MIT License" in (site / "assets" / "javascripts" / "mermaid.LICENSE.txt").read_text()
    page = (site / "architecture" / "index.html").read_text()
    assert '<script src="../assets/javascripts/mermaid.min.js"></script>' in page


def test_with_no_network_the_architecture_page_draws_its_mermaid_diagram(site, tmp_path):
    page = (site / "architecture" / "index.html").as_uri()
    shot = screenshot(page, tmp_path / "architecture.png", home=tmp_path, size="1200,1400",
                      extra=[*NO_NETWORK, "--virtual-time-budget=20000"])
    # five boxes of the layers diagram, each some 250 x 60 pixels at least
    assert node_pixels(shot) > 5 * 250 * 60


def test_the_browser_of_these_tests_has_no_network(site, tmp_path):
    """The control: without the site's own mermaid, mkdocs-material's CDN fallback cannot load it."""
    page = site / "architecture" / "index.html"
    bare = page.with_name("without-mermaid.html")
    bare.write_text(page.read_text().replace('<script src="../assets/javascripts/mermaid.min.js"></script>', ""))
    shot = screenshot(bare.as_uri(), tmp_path / "bare.png", home=tmp_path, size="1200,1400",
                      extra=[*NO_NETWORK, "--virtual-time-budget=20000"])
    assert node_pixels(shot) == 0
