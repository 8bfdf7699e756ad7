"""The docs are true: their Python blocks run as written, the site builds strict, the notebook runs.

Python blocks of a page run in order, in one fresh process with an empty
``LUME_HOME`` and an empty working directory, as a reader would paste them.
A block that needs what the suite cannot give it (a Prefect Server, a Docker
engine) says so on the line before it::

    <!-- docs-test: skip (needs a Prefect 1 Server) -->

and a YAML (or other) block that a later Python block reads as a file names it::

    <!-- docs-test: file flow_of_flows.yaml -->
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- docs-test: (?P<directive>[^>]*?) -->\n)?```(?P<lang>[\w-]*)\n(?P<code>.*?)\n```", re.S)


def blocks(page: Path):
    """``(language, code, directive)`` of each fenced block of a page."""
    return [(m["lang"], m["code"], (m["directive"] or "").strip()) for m in BLOCK.finditer(page.read_text())]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


RUNNER = textwrap.dedent(
    """
    import sys, traceback
    blocks = {blocks!r}
    namespace = {{"__name__": "__main__"}}
    for number, line, code in blocks:
        try:
            exec(compile(code, f"{page} block {{number}} (line {{line}})", "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            print(f"{page}: python block {{number}} (line {{line}}) failed", file=sys.stderr)
            sys.exit(1)
    """
)


@pytest.mark.parametrize("page", [p for p in PAGES if any(lang == "python" for lang, _, _ in blocks(p))], ids=page_id)
def test_the_python_blocks_of_a_page_run_as_written_in_a_fresh_home(page, tmp_path, lume_home):
    text = page.read_text()
    runnable, skipped = [], []
    for number, match in enumerate(BLOCK.finditer(text), 1):
        lang, code, directive = match["lang"], match["code"], (match["directive"] or "").strip()
        line = text.count("\n", 0, match.start("code")) + 1
        if directive.startswith("file "):
            (tmp_path / directive[len("file "):].strip()).write_text(code + "\n")
        elif lang == "python" and directive.startswith("skip"):
            assert "(" in directive, f"{page_id(page)} line {line}: say why a block is skipped: skip (needs ...)"
            skipped.append(line)
        elif lang == "python":
            runnable.append((number, line, code))
    script = tmp_path / "blocks.py"
    script.write_text(RUNNER.format(blocks=runnable, page=page_id(page)))
    env = {**os.environ, "LUME_HOME": str(lume_home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


def test_every_skipped_block_says_why():
    for page in PAGES:
        for lang, _, directive in blocks(page):
            if directive.startswith("skip"):
                assert re.match(r"skip \(needs .+\)$", directive), f"{page_id(page)}: {directive!r}"


def test_the_docs_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (scripts/test.sh installs it)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "notebook" / "index.html").exists()  # the notebook is a page


def test_the_docs_notebook_runs_under_a_real_kernel_with_no_error_cell(tmp_path, lume_home):
    nbclient = pytest.importorskip("nbclient", reason="the test extra is not installed (scripts/test.sh installs it)")
    import nbformat

    notebook = nbformat.read(ROOT / "docs" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError at the first error cell
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    values = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "execute_result"]
    assert any("text/markdown" in o.data and "flowchart TD" in o.data["text/markdown"] for o in values)
    assert "'version': 1" not in str(values) and any(o.data.get("text/plain") == "1" for o in values)
