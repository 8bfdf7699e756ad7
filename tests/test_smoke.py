import json
import subprocess
import sys

import pytest

#: the optional parts: imported by the code that uses them, never before
OPTIONAL = ("kubernetes", "docker", "pymongo", "sqlalchemy", "dask.distributed")


def _imported_after(statement: str, names=OPTIONAL + ("prefect",)) -> list:
    """Which of ``names`` a fresh interpreter has in ``sys.modules`` after ``statement``."""
    code = f"import json, sys; {statement}; print(json.dumps([m for m in {list(names)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_is_light():
    assert _imported_after("import lume_services") == []


@pytest.mark.parametrize("module", ["lume_services", "lume_services.config", "lume_services.cli.main"])
def test_the_package_its_settings_and_its_cli_import_neither_prefect_nor_an_optional_part(module):
    assert _imported_after(f"import {module}") == []


def test_the_flow_models_import_no_optional_part_beyond_what_prefect_itself_imports():
    """``import prefect`` imports ``kubernetes`` itself (its agents); the flow models add no other optional part."""
    prefects_own = set(_imported_after("import prefect", OPTIONAL))
    together = "import lume_services, lume_services.config, lume_services.flows.flow, lume_services.cli.main"
    assert set(_imported_after(together, OPTIONAL)) - prefects_own == set()
    assert "dask.distributed" not in prefects_own and "docker" not in prefects_own
