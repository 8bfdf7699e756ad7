"""Scheduling: register, load and run flows on a backend."""

from lume_services.services.scheduling.service import SchedulingService

__all__ = ["SchedulingService"]
