"""Live progress of a run on stderr: one row per child (or one for a single flow).

In a terminal a ``rich`` live table shows each child as waiting, running,
done or failed, with its elapsed time and an estimate: how long the child
took in the last successful run the run history holds. Elsewhere (a CI log,
a pipe) the same events are plain lines, one per start and finish. Nothing of
it is ever written to stdout, which holds the command's document.

``rich`` draws the table (a maintained library that handles terminal width,
colour support and redrawing in place); what is kept here is only which row
is in which state.
"""

import sys
import threading
import time
from typing import Any, Dict, List, Optional

from lume_services.cli._output import note, safe


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def last_durations(flow_name: str, project_name: Optional[str] = None) -> Dict[str, float]:
    """``{child: seconds}`` of the last successful run of ``flow_name`` in the run history, and
    ``{flow_name: seconds}`` for the run as a whole; ``{}`` when there is none (or no history)."""
    try:
        from lume_services.config import context

        service = context.scheduling_service()
        found = service.list_runs(flow_name=flow_name, project_name=project_name, state="Success", limit=1)
        if not found:
            return {}
        run = service.get_run(found[0].run_id)
    except Exception:  # an estimate is a nicety: no history, no estimate
        return {}
    durations = {c.name: c.duration for c in run.children if c.duration is not None}
    if run.duration is not None:
        durations.setdefault(flow_name, run.duration)
    return durations


class ProgressDisplay:
    """Rows of children that start and finish; a callback for ``ChildEvent`` s.

    Use it as a context manager around the run, and pass it as the run's
    ``progress`` callback (it is called from the executor's threads).

    Args:
        rows: the children (or the one flow) in execution order.
        estimates: ``{row: seconds}`` the row took last time.
        console: a ``rich.console.Console`` to draw on; ``None`` makes one on stderr.
        live: draw a live table (``True``), print plain lines (``False``), or
            decide by whether the console is a terminal (``None``).
        enabled: ``False`` shows nothing (``-q``).
    """

    def __init__(self, rows: List[str], estimates: Optional[Dict[str, float]] = None, console: Any = None,
                 live: Optional[bool] = None, enabled: bool = True) -> None:
        self.rows = list(rows)
        self.estimates = dict(estimates or {})
        self.enabled = enabled
        self._lock = threading.Lock()
        self._state: Dict[str, str] = dict.fromkeys(self.rows, "waiting")
        self._started: Dict[str, float] = {}
        self._elapsed: Dict[str, float] = {}
        self._console = console
        self._live_wanted = live
        self._live: Any = None

    # --- the run's events -------------------------------------------------------

    def __call__(self, event: Any) -> None:
        """Take a ``ChildEvent`` (``child``, ``event``, ``state``, ``elapsed``)."""
        self.event(event.child, event.event, event.state, event.elapsed)

    def event(self, row: str, what: str, state: Optional[str] = None, elapsed: Optional[float] = None) -> None:
        """A row ``started`` or ``finished`` (with its final ``state`` and ``elapsed`` seconds)."""
        with self._lock:
            if row not in self._state:
                self.rows.append(row)
            if what == "started":
                self._state[row] = "running"
                self._started[row] = time.monotonic()
            else:
                self._state[row] = "done" if state == "Success" else ("not run" if state == "TriggerFailed" else "failed")
                self._elapsed[row] = elapsed if elapsed is not None else time.monotonic() - self._started.get(
                    row, time.monotonic())
        if self.enabled and self._live is None:
            note(self._line(row, what, state))

    def _line(self, row: str, what: str, state: Optional[str]) -> str:
        if what == "started":
            last = self.estimates.get(row)
            return f"flow {safe(row)!r} started" + (f" (last run took {_seconds(last)})" if last is not None else "")
        return f"flow {safe(row)!r} finished: {state} in {self._elapsed[row]:.2f} s"

    @property
    def elapsed(self) -> Dict[str, float]:
        """``{row: seconds}`` of the rows finished so far."""
        with self._lock:
            return dict(self._elapsed)

    # --- drawing ------------------------------------------------------------------

    def __enter__(self) -> "ProgressDisplay":
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.live import Live

        console = self._console if self._console is not None else Console(file=sys.stderr)
        live = console.is_terminal if self._live_wanted is None else self._live_wanted
        if live:
            self._live = Live(get_renderable=self.table, console=console, refresh_per_second=4, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.refresh()
            live.stop()

    def table(self) -> Any:
        """The rows as a ``rich`` table: child, status, elapsed, estimate (the last run's time)."""
        from rich.table import Table
        from rich.text import Text

        styles = {"waiting": "dim", "running": "bold blue", "done": "green", "failed": "bold red", "not run": "dim"}
        table = Table(box=None, pad_edge=False)
        for column in ("flow", "status", "elapsed", "last run"):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            for row in self.rows:
                state = self._state[row]
                elapsed = self._elapsed.get(row)
                if elapsed is None and row in self._started:
                    elapsed = now - self._started[row]
                estimate = self.estimates.get(row)
                left = ""
                if state == "running" and estimate is not None and elapsed is not None:
                    left = f" (~{_seconds(max(estimate - elapsed, 0))} left)"
                table.add_row(Text(safe(row)), Text(state, style=styles[state]), _seconds(elapsed),
                              _seconds(estimate) + left)
        return table
