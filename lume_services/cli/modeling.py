"""LUME-services' ``lume_services.cli.modeling``: a thin re-export of the model commands.

The original's module was a placeholder for commands on models; here the
``models`` and ``deployments`` groups live in :mod:`lume_services.cli.models`
and are re-exported under this path.
"""

from lume_services.cli.models import deployments, models

__all__ = ["deployments", "models"]
