"""The time the scheduling code reads and waits on, passed in so tests can move it.

Deadlines (``waiting.Deadline``), the server backend's polls and reachability
rechecks, the wait of a composed flow for its children, the local backend's
time limit, and the run history's timestamps and pruning all take a
:class:`Clock`, with :data:`SYSTEM_CLOCK` (real time) as the default. A test
passes a :class:`ManualClock` instead and moves time with
:meth:`ManualClock.advance` rather than sleeping.

Our own class rather than a library: ``freezegun`` and ``time-machine`` patch
the ``time`` module for the whole process, Prefect included (its heartbeats,
retries and timeouts), while a clock passed in moves only the waits that take it.
"""

import threading
import time
from datetime import datetime, timezone
from typing import Optional


class Clock:
    """Real time: what the scheduling code reads and waits on unless given another clock."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and deadlines)."""
        return time.monotonic()

    def time(self) -> float:
        """Wall time, in seconds since the epoch (for timestamps)."""
        return time.time()

    def now(self) -> datetime:
        """Wall time as a timezone-aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), timezone.utc)

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds (``None``: without limit); whether it is set."""
        return event.wait(timeout)


#: the real clock, the default everywhere a clock is taken
SYSTEM_CLOCK = Clock()


class ManualClock(Clock):
    """A clock that moves only when told: for tests of deadlines, intervals and timestamps.

    :meth:`sleep` and a :meth:`wait` that times out move the clock by the time
    waited, at once: a poll loop with a deadline ends after as many polls as
    fit in the time allowed, without real waiting.

    Args:
        start: the wall time it starts at (seconds since the epoch); ``None``: now.
    """

    def __init__(self, start: Optional[float] = None):
        self._lock = threading.Lock()
        self._elapsed = 0.0
        self._start = time.time() if start is None else start

    def monotonic(self) -> float:
        """Seconds moved since the clock was made (plus a fixed origin)."""
        with self._lock:
            return 1_000.0 + self._elapsed

    def time(self) -> float:
        """The start wall time plus the seconds moved."""
        with self._lock:
            return self._start + self._elapsed

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        with self._lock:
            self._elapsed += max(0.0, float(seconds))

    def sleep(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward at once."""
        self.advance(seconds)

    def wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        """``True`` when ``event`` is set; else move the clock by ``timeout`` at once and say whether it is set.

        Without a timeout it waits for the event in real time, as nothing else would end the wait.
        """
        if event.is_set():
            return True
        if timeout is None:
            return event.wait()
        self.advance(timeout)
        return event.is_set()
