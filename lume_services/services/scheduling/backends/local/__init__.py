"""The ``local`` backend: an on-disk registry under ``LUME_HOME``, runs in this process.

Its parts: ``backend`` (:class:`LocalBackend`, :class:`LocalRunConfig`), ``registry``
(registered flows), ``run_history`` and ``run_recorder`` (what each run did),
``executors`` (``local``, ``local_dask``, ``dask``).

``lume_services.services.scheduling.backends.local`` is LUME-services' module path
for ``LocalBackend`` and ``LocalRunConfig``; both are importable from here.
"""

from lume_services._lazy_face import lazy_names

# Each name is imported from its module on first use (PEP 562), so that importing
# a light part (the settings' ``ExecutorConfig``) does not import the backend.
_HOMES = {"LocalBackend": "backend", "LocalRunConfig": "backend"}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = sorted(_HOMES)  # every public name is a lazy one
