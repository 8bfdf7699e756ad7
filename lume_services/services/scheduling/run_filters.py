"""What a run listing may be filtered by: the states, the largest limit, a time given as text.

Kept apart from :mod:`~lume_services.services.scheduling.run_records` (which
re-exports every name here) because the console script's light path for
``lume-services runs list`` (:mod:`lume_services.cli.console`) reads a filter
with these same rules and must start without what the records import
(dataclasses, the masking rules, the errors).
"""

from datetime import datetime, timezone
from typing import Optional

__all__ = ["MAX_LIMIT", "RUN_STATES", "as_utc", "parse_time", "state_named"]

#: states a run may be listed by (``Crashed``: its process went away before it finished)
RUN_STATES = (
    "Scheduled", "Submitted", "Pending", "Running", "Cancelling",
    "Success", "Failed", "Cancelled", "TimedOut", "Skipped", "Crashed",
)

#: the most runs one listing returns
MAX_LIMIT = 10_000


def as_utc(value: Optional[datetime]) -> Optional[datetime]:
    """``value`` in UTC; a naive datetime is local time, as everywhere in lume-services."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(timezone.utc)


def parse_time(text: str) -> Optional[datetime]:
    """An ISO 8601 date or time (``2024-05-01``, ``2024-05-01T12:00``, ``...Z``) in UTC; ``None`` when it is none."""
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def state_named(text: str) -> Optional[str]:
    """The run state ``text`` names in any case (``failed`` -> ``Failed``); ``None`` when it names none."""
    known = {s.lower(): s for s in RUN_STATES}
    return known.get(text.strip().lower())
