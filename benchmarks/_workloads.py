"""What more than one benchmark measures on: the same small flow, the same run history.

One definition each, so that two benchmarks said to use "the same" workload
(B2/B3 and B9 the two-task flow; B11 (commands) and B12 the history) do.
"""

from datetime import datetime, timedelta, timezone


def scale_shift_tasks():
    """Two new Prefect tasks, ``scale`` (x * 2) and ``shift`` (x + 1): new functions at each call,
    so that a flow made of them is a new flow to register and cloudpickle stores their code by value."""
    from prefect import task

    @task
    def scale(x):
        return x * 2

    @task
    def shift(x):
        return x + 1

    return scale, shift


def scale_shift_flow(name: str):
    """A flow ``name``: a parameter ``x`` (default 1) -> ``scale`` -> ``shift``, of new tasks."""
    from prefect import Flow, Parameter

    scale, shift = scale_shift_tasks()
    with Flow(name) as flow:
        shift(scale(Parameter("x", default=1)))
    return flow


def fill_history(history, runs: int, batch_size: int = 10_000):
    """``runs`` finished runs in a local backend's run ``history``: 20 flows, 5 projects, one in
    ten failed, a minute apart up to now, inserted ``batch_size`` at a time; the newest has 10
    recorded task runs (``inc``).

    Returns:
        ``(newest run id, now, the oldest run's start)``.
    """
    from lume_services.services.scheduling.run_records import RunRecord, TaskRun

    now = datetime.now(timezone.utc)
    start = now - timedelta(minutes=runs)
    batch = []
    for i in range(runs):
        at = start + timedelta(minutes=i)
        batch.append(RunRecord(
            run_id=f"run-{i:06d}", flow_name=f"flow-{i % 20}", project_name=f"project-{i % 5}",
            state="Failed" if i % 10 == 0 else "Success", parameters={"x": i}, executor="local",
            start=at, end=at + timedelta(seconds=1),
        ))
        if len(batch) == batch_size:
            history.insert_many(batch)
            batch = []
    history.insert_many(batch)
    last = f"run-{runs - 1:06d}"
    history.finish(last, now, "Success", None, [
        TaskRun("inc", f"inc-{k}", "Success", result=k, result_recorded=True) for k in range(10)
    ])
    return last, now, start
