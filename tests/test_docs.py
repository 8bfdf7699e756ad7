"""The docs are true: their Python and shell blocks run as written, the site builds strict, the notebook runs.

The Python and shell blocks of a page run in the page's order, Python blocks
in one fresh process (as a reader would paste them into one session), each
shell block in ``bash -euo pipefail`` (a ``console`` block: its ``$`` lines),
with an empty ``LUME_HOME`` and an empty working directory. A block that
needs what the suite cannot give it (a Prefect Server, a Docker engine) says
so on the line before it::

    <!-- docs-test: skip (needs a Prefect 1 Server) -->

and a block the reader saves as a file (a module of flows, a YAML file) names
it; it is written when the page reaches it (a folder in its name is made)::

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


SHELLS = ("bash", "sh", "shell", "console")

RUNNER = textwrap.dedent(
    """
    import os, subprocess, sys, traceback
    from pathlib import Path
    steps = {steps!r}
    namespace = {{"__name__": "__main__"}}
    for kind, number, line, code in steps:
        where = f"{page} {{kind}} block {{number}} (line {{line}})"
        if kind == "file":  # a file the page shows, written where the reader would save it
            Path(number).parent.mkdir(parents=True, exist_ok=True)
            Path(number).write_text(code + "\\n")
            continue
        print(f"=== {{where}}", file=sys.stderr, flush=True)
        if kind == "shell":
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], stdout=subprocess.PIPE, text=True)
            sys.stderr.write(done.stdout)
            if done.returncode != 0:
                print(f"{{where}} failed (exit {{done.returncode}}):\\n{{code}}", file=sys.stderr)
                sys.exit(1)
            continue
        try:
            exec(compile(code, where, "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            print(f"{{where}} failed", file=sys.stderr)
            sys.exit(1)
    """
)


def shell_code(lang: str, code: str) -> str:
    """What a reader types from a shell block: a console block's ``$`` lines, else the block."""
    if lang != "console":
        return code
    return "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ "))


def page_steps(page: Path):
    """``(steps, skipped lines)``: the page's files, Python and shell blocks in the page's order."""
    text = page.read_text()
    steps, skipped = [], []
    for number, match in enumerate(BLOCK.finditer(text), 1):
        lang, code, directive = match["lang"], match["code"], (match["directive"] or "").strip()
        line = text.count("\n", 0, match.start("code")) + 1
        if directive.startswith("file "):
            steps.append(("file", directive[len("file "):].strip(), line, code))
        elif directive.startswith("skip") and lang in ("python", *SHELLS):
            assert "(" in directive, f"{page_id(page)} line {line}: say why a block is skipped: skip (needs ...)"
            skipped.append(line)
        elif lang == "python":
            steps.append(("python", number, line, code))
        elif lang in SHELLS:
            steps.append(("shell", number, line, shell_code(lang, code)))
    return steps, skipped


def runnable(page: Path) -> bool:
    return any(kind in ("python", "shell") for kind, *_ in page_steps(page)[0])


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=page_id)
def test_the_blocks_of_a_page_run_as_written_in_a_fresh_home(page, tmp_path, lume_home):
    """Python and shell blocks, in the page's order, in an empty folder with an empty LUME_HOME."""
    steps, _ = page_steps(page)
    work = tmp_path / "reader"
    work.mkdir()
    script = tmp_path / "blocks.py"
    script.write_text(RUNNER.format(steps=steps, page=page_id(page)))
    bin_dir = str(Path(sys.executable).parent)  # lume-services of this venv, this checkout first
    env = {**os.environ, "LUME_HOME": str(lume_home), "PYTHONPATH": str(ROOT),
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-6000:]


def test_a_console_block_runs_its_dollar_lines_only():
    assert shell_code("console", "$ lume-services runs list\nRUN ID  FLOW\n$ echo hi") == "lume-services runs list\necho hi"


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


def test_the_site_draws_mermaid_blocks_and_shows_the_notebooks_outputs(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (scripts/test.sh installs it)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = (tmp_path / "site" / "runs" / "index.html").read_text()
    assert '<pre class="mermaid"><code>flowchart TD' in runs  # a diagram for mkdocs-material, not highlighted code
    notebook = (tmp_path / "site" / "notebook" / "index.html").read_text()
    assert "flow &#39;doubler&#39; started" in notebook or "flow 'doubler' started" in notebook  # stored outputs
    assert 'aria-label="flow of flows double-then-add"' in notebook  # the DAG as inline SVG, no network
    assert 'class="lume-run-report"' in notebook  # the run record's report


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
