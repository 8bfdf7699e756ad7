"""The public API type-checks: mypy reports no error on flows/, tasks/, files/, results/.

``lume_services`` ships ``py.typed``, so a user's type checker reads these
signatures; ``[tool.mypy]`` in ``pyproject.toml`` says what is checked and how.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # mypy takes several seconds from a cold cache


def test_mypy_reports_no_errors_on_the_public_packages(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout
