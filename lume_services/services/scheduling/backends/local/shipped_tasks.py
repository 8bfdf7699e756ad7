"""Sending tasks to other processes with the file names of their code kept.

Executors that run tasks in other processes (``local_dask`` with processes, a
``dask`` cluster) pickle each task they send with plain cloudpickle, which
renames the code it stores by value ``<dynamic-code>`` (an ``@task`` function
is always stored so, see :mod:`~lume_services.services.scheduling.flow_pickle`):
a task that raises there would name no file in its traceback.

:func:`keeping_file_names` wraps such an executor (Prefect's public
``executor=`` argument; nothing in Prefect or dask is patched): the task a run
submits is pickled by :func:`~lume_services.services.scheduling.flow_pickle.dumps`
(once per task and run) and sent as bytes with a small function that loads it
and runs the task, so the task's code has its file's name where it runs. The
executor still pickles the rest (states, futures, context) as it did. Workers of
a cluster at an ``address`` need lume-services importable for that small function,
as they already do for the run history's task state handler.
"""

import pickle
from typing import Any, Dict


def keeping_file_names(executor):
    """Return an executor that runs like ``executor``, its tasks' code keeping its file names.

    Only executors that run tasks in other processes are wrapped (Prefect's
    ``DaskExecutor``, a ``LocalDaskExecutor`` with ``scheduler="processes"``, and
    wrappers of ours around them); the others run tasks in this process, with
    their code as it is, and are returned unchanged.
    """
    from prefect.executors import DaskExecutor, LocalDaskExecutor

    inner = executor
    while not isinstance(inner, (DaskExecutor, LocalDaskExecutor)) and hasattr(inner, "inner"):
        inner = inner.inner  # a wrapper of ours: decide by what it wraps
    if isinstance(inner, DaskExecutor) or (isinstance(inner, LocalDaskExecutor) and inner.scheduler == "processes"):
        return _KeepingFileNames(executor)
    return executor


class _KeepingFileNames:
    """Delegates to an executor; a task submitted as ``task=`` is sent pickled by ``flow_pickle``."""

    def __init__(self, inner):
        self.inner = inner
        self._pickled: Dict[int, tuple] = {}  # id(task) -> (task, its bytes): one pickling per task and run

    def __getattr__(self, name):  # anything else Prefect reads from its executor
        return getattr(self.inner, name)

    def start(self):
        return self.inner.start()

    def submit(self, fn, *args, **kwargs):
        task = kwargs.pop("task", None)
        if task is None:
            return self.inner.submit(fn, *args, **kwargs)
        return self.inner.submit(_run_unpickled, self._bytes_of(task), fn, *args, **kwargs)

    def wait(self, futures):
        return self.inner.wait(futures)

    def _bytes_of(self, task) -> bytes:
        found = self._pickled.get(id(task))
        if found is None or found[0] is not task:
            from lume_services.services.scheduling.flow_pickle import dumps

            found = self._pickled[id(task)] = (task, dumps(task))
        return found[1]


def _run_unpickled(pickled_task: bytes, fn, *args: Any, **kwargs: Any):
    """Call ``fn(*args, task=<the task>, **kwargs)`` with the task loaded from ``pickled_task``."""
    return fn(*args, task=pickle.loads(pickled_task), **kwargs)
