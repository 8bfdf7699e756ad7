"""Errors of the services stack: starting, checking and stopping it with docker compose."""

from typing import Mapping, Sequence

from lume_services.errors._base import LUMEServicesError


class ServicesError(LUMEServicesError):
    """Base class of the errors of the services stack: it cannot be started, checked or stopped.

    Raised by :mod:`lume_services.docker.compose` (``lume-services docker ...``):
    no compose command (:class:`ComposeNotAvailableError`), a compose command
    that failed (:class:`ComposeCommandError`), services not ready in time
    (:class:`ServicesNotReadyError`).
    """


class ComposeNotAvailableError(ServicesError):
    """Neither ``docker compose`` (the plugin) nor ``docker-compose`` can be run here.

    Args:
        tried: the commands tried and why each cannot run.
    """

    def __init__(self, tried: Mapping[str, str]):
        self.tried = dict(tried)
        tried_text = "; ".join(f"{cmd}: {why}" for cmd, why in self.tried.items())
        super().__init__(
            f"no docker compose command can be run ({tried_text}); install Docker's compose plugin "
            "or the docker-compose command (Debian: apt-get install docker-compose)"
        )


class ComposeCommandError(ServicesError):
    """A docker compose command exited with an error.

    Args:
        command: the command line.
        returncode: its exit code.
        output: what it printed.
    """

    def __init__(self, command: Sequence[str], returncode: int, output: str):
        self.command = list(command)
        self.returncode = returncode
        self.output = output
        super().__init__(
            f"{' '.join(self.command)} exited with {returncode}: {output.strip()[-1500:] or '(no output)'}"
        )


class ServicesNotReadyError(ServicesError):
    """Services did not pass their readiness checks in time.

    Args:
        failed: each service that is not ready and its last check's answer.
        timeout: the seconds waited.
    """

    def __init__(self, failed: Mapping[str, str], timeout: float):
        self.failed = dict(failed)
        self.timeout = timeout
        details = "; ".join(f"{name}: {why}" for name, why in sorted(self.failed.items()))
        super().__init__(
            f"services not ready after {timeout:g} s: {details} (the services were stopped; "
            "'docker compose logs' shows why, or give a longer --timeout)"
        )
