"""The ``local`` backend: an on-disk registry under ``LUME_HOME``, runs in this process.

Its parts: ``backend`` (:class:`LocalBackend`, :class:`LocalRunConfig`), ``registry``
(registered flows), ``run_history`` and ``run_recorder`` (what each run did),
``executors`` (``local``, ``local_dask``, ``dask``).

``lume_services.services.scheduling.backends.local`` is LUME-services' module path
for ``LocalBackend`` and ``LocalRunConfig``; both are importable from here.
"""

from lume_services.services.scheduling.backends.local.backend import LocalBackend, LocalRunConfig

__all__ = ["LocalBackend", "LocalRunConfig"]
