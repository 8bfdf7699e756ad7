"""Mermaid for the docs site, from the npm registry: no page of the built site loads it from a CDN.

mkdocs-material draws ```` ```mermaid ```` blocks with mermaid.js, which it loads from
unpkg.com unless a global ``mermaid`` is already defined. This file gives the site its own
copy, so the diagrams render with no network:

- at set-up time (``scripts/test.sh``, or the first ``mkdocs build``) the pinned version's
  package is fetched with ``npm pack`` into a cache folder, and its tarball is checked against
  the integrity the npm registry records for that version (pinned below: a tarball that
  differs is refused and removed);
- at build time, as an mkdocs hook (``hooks:`` in ``mkdocs.yml``), ``dist/mermaid.min.js``
  and mermaid's licence are taken from the cached tarball (checked again) and written into
  the site as ``assets/javascripts/mermaid.min.js``, which ``extra_javascript`` loads on
  every page;
- the notebook page (mkdocs-jupyter, through nbconvert's lab template) carries nbconvert's
  own Mermaid loader, which imports mermaid and its ELK layouts from cdnjs when the page
  has a ``text/vnd.mermaid`` output: the hook points it at the same global ``mermaid``
  (ELK layouts are left out), so no page names a remote script.

Mermaid's code is never committed: only its version and the registry's integrity are.
The cache folder is ``$LUME_NPM_CACHE``, else ``$XDG_CACHE_HOME/lume-services/npm``, else
``~/.cache/lume-services/npm``; once the tarball is there, building needs no network.

Run by hand to fill the cache (prints the tarball's path)::

    python scripts/mermaid_asset.py

This is plumbing of our own because nothing in the docs stack fetches Mermaid: mkdocs-material
uses a Mermaid that ``extra_javascript`` loads (any version, any place) but brings none itself,
and committing mermaid.js (2.7 MB of another project's code) into ``docs/`` is not an option.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: the Mermaid release the site ships (mkdocs-material 9 loads mermaid@11 from its CDN)
MERMAID_VERSION = "11.12.2"
#: what the npm registry records for that release (``npm view mermaid@11.12.2 dist.integrity``)
MERMAID_INTEGRITY = "sha512-n34QPDPEKmaeCG4WDMGy0OT6PSyxKCfy2pJgShP+Qow2KLrvWjclwbc3yXfSIf4BanqWEhQEpngWwNp/XhZt6w=="

#: where the built site holds the script (``extra_javascript`` in mkdocs.yml names it)
SITE_SCRIPT = "assets/javascripts/mermaid.min.js"
SITE_LICENSE = "assets/javascripts/mermaid.LICENSE.txt"


class MermaidUnavailable(Exception):
    """Mermaid could not be fetched or its tarball is not the one the registry records."""


def cache_dir() -> Path:
    """The folder the verified tarballs are kept in."""
    if os.environ.get("LUME_NPM_CACHE"):
        return Path(os.environ["LUME_NPM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "lume-services" / "npm"


def integrity_of(path: Path) -> str:
    """The npm (Subresource Integrity) string of a file: ``sha512-<base64 digest>``."""
    digest = hashlib.sha512()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _check(tarball: Path) -> Path:
    found = integrity_of(tarball)
    if found != MERMAID_INTEGRITY:
        tarball.unlink()
        raise MermaidUnavailable(
            f"{tarball} has integrity {found}, but the npm registry records {MERMAID_INTEGRITY} for "
            f"mermaid@{MERMAID_VERSION}; the file was removed, run `python scripts/mermaid_asset.py` to fetch it again"
        )
    return tarball


def fetch(cache: Path = None) -> Path:
    """The verified tarball of the pinned Mermaid, fetched with ``npm pack`` when not cached yet.

    Raises:
        MermaidUnavailable: npm is missing or failed (offline with an empty cache), or the
            tarball's integrity is not the registry's.
    """
    cache = cache or cache_dir()
    tarball = cache / f"mermaid-{MERMAID_VERSION}.tgz"
    if tarball.exists():
        return _check(tarball)
    npm = shutil.which("npm")
    if npm is None:
        raise MermaidUnavailable(
            f"mermaid@{MERMAID_VERSION} is not in the cache {cache} and npm is not installed to fetch it "
            "(install Node.js and npm, e.g. `apt-get install nodejs npm`, or run scripts/test.sh)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        done = subprocess.run(
            [npm, "pack", f"mermaid@{MERMAID_VERSION}", "--json", "--pack-destination", work],
            cwd=work, capture_output=True, text=True, timeout=600,
        )
        if done.returncode != 0:
            raise MermaidUnavailable(
                f"`npm pack mermaid@{MERMAID_VERSION}` failed (exit {done.returncode}): {done.stderr.strip()[-800:]}"
            )
        packed = Path(work) / json.loads(done.stdout)[0]["filename"]
        _check(packed)
        os.replace(packed, tarball)  # only a verified tarball ever has the cached name
    return tarball


def read_from_tarball(tarball: Path, member: str) -> bytes:
    """One file of the (verified) package, e.g. ``package/dist/mermaid.min.js``."""
    with tarfile.open(tarball, "r:gz") as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise MermaidUnavailable(f"{tarball} has no file {member}")
        return extracted.read()


# --- the mkdocs hook ------------------------------------------------------------------

def on_files(files, config):
    """Add mermaid.min.js and its licence to the site, from the verified cached tarball."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    try:
        tarball = fetch()
        script = read_from_tarball(tarball, "package/dist/mermaid.min.js")
        license_text = read_from_tarball(tarball, "package/LICENSE")
    except (MermaidUnavailable, OSError, tarfile.TarError, subprocess.TimeoutExpired) as exc:
        raise PluginError(f"the docs site needs Mermaid for its diagrams: {exc}") from exc
    files.append(File.generated(config, SITE_SCRIPT, content=script))
    files.append(File.generated(config, SITE_LICENSE, content=license_text))
    return files


#: nbconvert's loader (``templates/lab/mermaidjs.html.j2``): ``(await import("<cdn url>")).default``
_NBCONVERT_IMPORT = re.compile(r'\(await import\("https?://[^"]*mermaid[^"]*"\)\)\.default')
_NBCONVERT_ELK = re.compile(r'const elkUrl = "https?://[^"]*";')


def on_post_page(output, page, config):
    """Make nbconvert's Mermaid loader on a notebook page use the site's own mermaid."""
    if "jp-Mermaid" not in output:
        return output
    output = _NBCONVERT_IMPORT.sub("window.mermaid", output)
    return _NBCONVERT_ELK.sub('const elkUrl = "";', output)


if __name__ == "__main__":
    try:
        print(fetch())
    except MermaidUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
