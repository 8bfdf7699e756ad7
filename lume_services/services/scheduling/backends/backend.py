"""LUME-services' module path of the backend port (a thin re-export).

The port, :class:`Backend`, and :class:`RunConfig` live beside the service that
uses them, in :mod:`lume_services.services.scheduling.backend`; this module keeps
the original's path importable.
"""

from lume_services.services.scheduling.backend import Backend  # noqa: F401 (re-export)
from lume_services.services.scheduling.run_options import RunConfig  # noqa: F401 (re-export)

__all__ = ["Backend", "RunConfig"]
