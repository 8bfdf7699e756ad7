"""LUME-services' ``lume_services.cli.cli``: a thin re-export of the ``lume-services`` command.

``main`` is :data:`lume_services.cli.main.main`, the command the
``lume-services`` console script runs; its ``docker`` group is
:mod:`lume_services.cli.docker_compose`.
"""

from lume_services.cli.main import main

__all__ = ["main"]
