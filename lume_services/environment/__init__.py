"""Installing a model's package into an environment and finding its flow (LUME-services' environment solver).

:class:`~lume_services.environment.solver.Source` reads a model source (a
wheel, an sdist or a source archive on this machine, or a GitHub release
tarball) and installs it with pip, offline, into a target folder, a virtual
environment or the running one; the installed package's flow is found through
its ``orchestration`` entry points, as LUME-services' model template declares
them. See docs/model_packages.md.
"""

from lume_services.environment.solver import Installation, Source

__all__ = ["Installation", "Source"]
