"""Write one benchmark's figures into its own section of docs/benchmarks.md.

Each benchmark script owns the text between ``<!-- BEGIN <key> -->`` and
``<!-- END <key> -->``; running it again replaces that section only.
"""

import platform
import re
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Figures written by the scripts in `benchmarks/`; each compares the lume-services\n"
    "path with the plain Prefect (or plain sqlite3) path in the same run. Refresh them all\n"
    "with `python benchmarks/run_all.py` (B5 and B7 need the server double or Docker and\n"
    "run on their own), or one section with `python benchmarks/<script>.py`.\n"
)


def machine() -> str:
    """A one-line description of where the figures were measured."""
    import os

    return (
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, {datetime.now(timezone.utc):%Y-%m-%d}"
    )


def write_section(key: str, markdown: str, doc: Path = DOC, write: bool = True) -> None:
    """Print the section ``key``, and (``write``) replace or append it on the benchmarks page.

    What a run measured is always printed, whether or not the page is refreshed
    (``--no-write`` on every script turns ``write`` off).
    """
    print(markdown.rstrip() + "\n", flush=True)
    if not write:
        print(f"(--no-write: section {key} of {doc.name} left as it was)", file=sys.stderr)
        return
    text = doc.read_text() if doc.exists() else HEADER
    block = f"<!-- BEGIN {key} -->\n{markdown.rstrip()}\n<!-- END {key} -->"
    pattern = re.compile(
        rf"<!-- BEGIN {re.escape(key)} -->.*?<!-- END {re.escape(key)} -->", re.S
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    print(f"wrote section {key} of {doc}", file=sys.stderr)


def timed(fn: Callable[[], object]):
    """Run ``fn`` once: ``(seconds it took, what it returned)``."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved_medians(fns: List[Callable[[], object]], repeats: int) -> List[float]:
    """Time each function ``repeats`` times, interleaved; return the median seconds of each."""
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]
