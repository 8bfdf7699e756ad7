"""Shared fixtures: every test gets its own lume-services home and fresh services."""

import os
import tempfile

# Before Prefect is imported anywhere: keep Prefect's files out of the user's home
# and its logs quiet.
_PREFECT_HOME = tempfile.mkdtemp(prefix="prefect-home-")
os.environ.setdefault("PREFECT__HOME_DIR", _PREFECT_HOME)
os.environ.setdefault("PREFECT__LOGGING__LEVEL", "WARNING")
os.environ.setdefault("PREFECT__BACKEND", "server")

import pytest  # noqa: E402

# Fixtures for the server backend: the Prefect 1 Server protocol double and a LocalAgent.
pytest_plugins = ["fixtures.server"]


@pytest.fixture(autouse=True)
def prefect_config_restored():
    """Prefect's in-process configuration, as it was before the test, after it.

    Server backends point ``prefect.config`` and ``prefect.context.config`` (two
    objects) at their server; no test may leave the next one pointed at a
    server it stopped.
    """
    import copy

    import prefect

    saved = [(cfg, copy.deepcopy(cfg.to_dict())) for cfg in {id(c): c for c in (prefect.config, prefect.context.config)}.values()]
    yield
    for cfg, values in saved:
        cfg.update(values)


@pytest.fixture(autouse=True)
def lume_home(tmp_path, monkeypatch):
    """An empty ``LUME_HOME`` for each test, with no configuration carried over."""
    from lume_services import config

    home = tmp_path / "lume-home"
    monkeypatch.setenv("LUME_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("LUME_") and name != "LUME_HOME":
            monkeypatch.delenv(name)
    config.reset()
    yield home
    config.reset()
