"""Chromium from Debian's packages, headless, for the tests that look at a page as a reader does.

``scripts/test.sh`` installs Chromium; where it did, it sets
``LUME_TEST_REQUIRE_CHROMIUM=1`` and a browser that cannot start fails the
test instead of skipping it.
"""

import os
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

#: no network for the page: every host name fails to resolve and every request goes to a closed port
NO_NETWORK = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium() -> str:
    """The Chromium executable; skips (or fails, where scripts/test.sh installed it) when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("Chromium is not installed (scripts/test.sh installs it: apt-get install chromium)")
    return found


def unavailable(reason: str):
    """Skip the test saying why, or fail it where scripts/test.sh installed Chromium."""
    if os.environ.get("LUME_TEST_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{reason}, but scripts/test.sh installed Chromium (LUME_TEST_REQUIRE_CHROMIUM=1)")
    pytest.skip(reason)


def screenshot(url: str, shot: Path, home: Path, size: str = "1200,900", extra: List[str] = ()) -> Path:
    """A PNG of ``url`` as headless Chromium draws it (``extra``: more Chromium switches)."""
    try:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *extra,
             f"--screenshot={shot}", f"--window-size={size}", url],
            capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(home)},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"Chromium cannot start here: {exc}")
    if not shot.exists():
        unavailable(f"Chromium cannot start here (exit {done.returncode}): {done.stderr[-500:]}")
    return shot
