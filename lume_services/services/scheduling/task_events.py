"""Seeing task runs start and finish from the process that runs the flow.

A local run can report each task's start and finish to a :class:`TaskEvents`
listener. The listener is never handed to the tasks: Prefect pickles what it
sends to a process pool or a Dask cluster, and a listener (a lock, a callback,
an open stream) cannot always be pickled. Instead the executor that runs the
flow is wrapped, and the wrapper reports what the flow's own process sees:

- ``local``: tasks run one by one in this thread, around each ``submit``;
- ``local_dask`` (threads or processes): dask's local scheduler runs its
  callbacks in this process, before and after each task;
- ``dask``: a future's done callback runs in this process; a start is not
  seen here, so none is reported (listeners derive it, see ``flows/progress.py``).

A listener that raises does not change the run: the error is logged once and
the listener is not called again.
"""

import logging
import threading
from typing import Any, Dict, Optional

logger = logging.getLogger(__name__)


def with_item_states(state: Any) -> list:
    """``[state]``, followed by its items' states when ``state`` is a mapped task's ``Mapped`` state.

    A mapped task (a sweep's items) ends ``Mapped``, which Prefect counts as a
    success whatever its items did; what the items did is in ``map_states``.
    """
    items = getattr(state, "map_states", None) if state is not None and state.is_mapped() else None
    return [state, *(item for item in items or [] if hasattr(item, "is_failed"))]


class TaskEvents:
    """What a listener to a local run's tasks receives; both methods do nothing by default.

    Called from the process that runs the flow, possibly from several threads
    at once; they must be quick (they run in the executor's scheduling loop).
    """

    def task_started(self, task_name: str, map_index: Optional[int]) -> None:
        """A task run started (``map_index``: the mapped child's index, else ``None``)."""

    def task_finished(self, task_name: str, map_index: Optional[int], state: Any) -> None:
        """A task run finished in the Prefect ``state``."""


def observed(executor, events: TaskEvents):
    """Return an executor that runs like ``executor`` and reports its tasks to ``events``."""
    from prefect.executors import DaskExecutor, LocalDaskExecutor, LocalExecutor

    if isinstance(executor, LocalExecutor):
        return _ObservedLocal(executor, events)
    if isinstance(executor, LocalDaskExecutor):
        return _ObservedLocalDask(executor, events)
    if isinstance(executor, DaskExecutor):
        return _ObservedDask(executor, events)
    return executor  # an executor of the user's own: run it unobserved


class _Safe:
    """Calls a listener, and stops calling it after the first error (which is logged)."""

    def __init__(self, events: TaskEvents):
        self.events = events
        self.broken = False

    def started(self, name: Optional[str], index: Optional[int]) -> None:
        if name is not None and not self.broken:
            self._call(self.events.task_started, name, index)

    def finished(self, name: Optional[str], index: Optional[int], state: Any) -> None:
        if name is not None and not self.broken:
            self._call(self.events.task_finished, name, index, state)

    def _call(self, method, *args) -> None:
        try:
            method(*args)
        except Exception:  # a listener never decides a run's outcome
            self.broken = True
            logger.warning("task event listener %r failed; it is no longer called", self.events, exc_info=True)


def _task_of(extra_context: Optional[dict]):
    extra_context = extra_context or {}
    return extra_context.get("task_name"), extra_context.get("task_index")


class _Observed:
    """Delegates to a Prefect executor; subclasses add the reporting."""

    def __init__(self, inner, events: TaskEvents):
        self.inner = inner
        self.safe = _Safe(events)

    def __getattr__(self, name):  # anything else Prefect reads from its executor
        return getattr(self.inner, name)

    def start(self):
        return self.inner.start()

    def submit(self, fn, *args, extra_context=None, **kwargs):
        return self.inner.submit(fn, *args, extra_context=extra_context, **kwargs)

    def wait(self, futures):
        return self.inner.wait(futures)


class _ObservedLocal(_Observed):
    def submit(self, fn, *args, extra_context=None, **kwargs):
        name, index = _task_of(extra_context)
        self.safe.started(name, index)
        state = self.inner.submit(fn, *args, extra_context=extra_context, **kwargs)
        self.safe.finished(name, index, state)
        return state


class _ObservedLocalDask(_Observed):
    def __init__(self, inner, events: TaskEvents):
        super().__init__(inner, events)
        self.tasks: Dict[Any, tuple] = {}  # dask key -> (task name, map index)
        inner.callback = _DaskCallback(inner.callback, self)

    def submit(self, fn, *args, extra_context=None, **kwargs):
        delayed = self.inner.submit(fn, *args, extra_context=extra_context, **kwargs)
        name, index = _task_of(extra_context)
        if name is not None:
            self.tasks[delayed.key] = (name, index)
        return delayed


def _DaskCallback(prefect_callback, observed: "_ObservedLocalDask"):
    """Prefect's own dask callback (it caches finished keys), reporting too.

    dask's local scheduler runs these hooks in the calling process, also when
    the tasks themselves run in a process pool.
    """
    cls = type(prefect_callback)

    class Reporting(cls):
        def __init__(self):
            self.__dict__.update(prefect_callback.__dict__)

        def _pretask(self, key, dsk, state):
            task = observed.tasks.get(key)
            if task is not None:
                observed.safe.started(*task)

        def _posttask(self, key, value, dsk, state, id):
            super()._posttask(key, value, dsk, state, id)
            task = observed.tasks.get(key)
            if task is not None:
                observed.safe.finished(*task, value)

    return Reporting()


class _ObservedDask(_Observed):
    """Reports a task when its future is done, from the client's callback thread.

    A callback that cannot fetch the state (the run is ending and the cluster
    already forgot the key) leaves the task to :meth:`wait`, which reports it
    with the state Prefect gathered; each task is reported once.
    """

    def __init__(self, inner, events: TaskEvents):
        super().__init__(inner, events)
        self.tasks: Dict[Any, tuple] = {}  # future key -> (task name, map index)
        self.reported: set = set()
        self.lock = threading.Lock()

    def submit(self, fn, *args, extra_context=None, **kwargs):
        future = self.inner.submit(fn, *args, extra_context=extra_context, **kwargs)
        name, index = _task_of(extra_context)
        if name is not None:
            self.tasks[future.key] = (name, index)
            future.add_done_callback(self._done)
        return future

    def wait(self, futures):
        resolved = self.inner.wait(futures)
        self._report_resolved(futures, resolved)
        return resolved

    def _done(self, future) -> None:
        # runs in a thread of this process once the future is done
        if future.status != "finished":
            return
        try:
            state = future.result()
        except Exception:  # the run is ending: wait() reports it
            return
        self._report(future.key, state)

    def _report(self, key, state) -> None:
        with self.lock:
            if key in self.reported or key not in self.tasks:
                return
            self.reported.add(key)
        self.safe.finished(*self.tasks[key], state)

    def _report_resolved(self, futures, resolved) -> None:
        """Walk what was waited for beside what it resolved to (dicts, lists, futures)."""
        if isinstance(futures, dict) and isinstance(resolved, dict):
            for key, value in futures.items():
                if key in resolved:
                    self._report_resolved(value, resolved[key])
        elif isinstance(futures, (list, tuple)) and isinstance(resolved, (list, tuple)):
            for value, result in zip(futures, resolved):
                self._report_resolved(value, result)
        elif getattr(futures, "key", None) in self.tasks:
            self._report(futures.key, resolved)
