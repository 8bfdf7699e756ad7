"""Running a flow's tasks without copying Prefect's whole configuration for each one.

Prefect 1's flow runner hands every task run a copy of its context, and the
context holds ``config``: the whole Prefect configuration (several hundred
settings). Each ``with prefect.context(context)`` that finds ``config`` in what
it is given merges it into the current one (``merge_dicts``), which copies the
configuration recursively: three times per task (once in ``run_task``, twice in
``TaskRunner.run``). Measured, that is over 80 % of Prefect's per-task time
(about 7 of 8 ms on a quiet machine), for a value that never changes during a
run.

:func:`lean` wraps the executor a run is given (Prefect's public ``executor=``
argument; nothing in Prefect is patched): a task submitted with the run's own
configuration object is submitted without it, and the task runs with that very
object bound in its thread's context. The configuration a task sees has the same
values as before; what changes is that tasks share the run's configuration
object instead of each getting a copy, so a task that *assigns* into
``prefect.context.config`` changes it for the tasks after it (Prefect's own
code only reads it). Executors that send tasks to other processes
(``DaskExecutor``) are left as they are: their tasks are pickled with their
context either way.
"""

from typing import Any


def lean(executor):
    """Return an executor that runs like ``executor`` without a configuration copy per task.

    ``LocalExecutor``, ``LocalDaskExecutor`` and wrappers around them (such as
    the progress reporting of :mod:`~lume_services.services.scheduling.task_events`)
    are wrapped; any other executor is returned as it is.
    """
    from prefect.executors import LocalDaskExecutor, LocalExecutor

    inner = executor
    while not isinstance(inner, (LocalExecutor, LocalDaskExecutor)) and hasattr(inner, "inner"):
        inner = inner.inner  # a wrapper of ours: decide by what it wraps
    if not isinstance(inner, (LocalExecutor, LocalDaskExecutor)):
        return executor
    return _Lean(executor)


class _Lean:
    """Delegates to an executor; tasks are submitted without their configuration copy."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):  # anything else Prefect reads from its executor
        return getattr(self.inner, name)

    def start(self):
        return self.inner.start()

    def submit(self, fn, *args, **kwargs):
        import prefect
        from prefect.engine.flow_runner import run_task

        context = kwargs.get("context")
        config = None if context is None else context.get("config")
        if fn is run_task and config is not None and config is prefect.context.get("config"):
            kwargs["context"] = {k: v for k, v in context.items() if k != "config"}
            return self.inner.submit(_with_config, config, fn, *args, **kwargs)
        return self.inner.submit(fn, *args, **kwargs)

    def wait(self, futures):
        return self.inner.wait(futures)


def _with_config(config, fn, *args: Any, **kwargs: Any):
    """Run ``fn`` with ``config`` as ``prefect.context.config`` of this thread, without a copy."""
    import prefect

    context = prefect.context
    previous = context.get("config")
    if previous is config:  # the submitting thread (LocalExecutor): nothing to bind
        return fn(*args, **kwargs)
    context["config"] = config
    try:
        return fn(*args, **kwargs)
    finally:
        context["config"] = previous
