"""Flow files and ``LocalResult`` files of the server backends: private whatever the umask, checked before a load.

Prefect's ``Local`` storage pickles each registered flow into a file, and its
``LocalResult`` pickles each task result into one; a LocalAgent's flow run
unpickles the flow file, and ``Flow.run_result()`` / ``run_and_return``
unpickle result files in the caller's process. Prefect makes both with the
umask's modes (0755/0644, or 0777/0666 under umask 000) and loads them
without looking: whoever can replace such a file runs code in the agent or
in the caller. This module keeps both to the rules of every lume-services
store (:mod:`lume_services.storage`):

- :class:`Local` writes each flow file 0600 in 0700 folders, and records its
  location as a *module path* (Prefect's ``Local.get_flow`` imports a
  location that is not a file, and calls what it names): the flow run in the
  agent calls :func:`load_flow_file` through it, which checks the file and its
  folders (owner, mode) before unpickling it. The check travels with the
  flow's registered storage; nothing of Prefect is patched.
- :class:`LocalResult` writes each result 0600 in 0700 folders and checks a
  result file before reading it, inside flow runs.
- :func:`check_result_file` checks a finished task run's ``LocalResult`` file
  on the caller's side, before Prefect's own ``LocalResult`` (which the
  caller's ``FlowRunView`` deserializes) reads it.

Both classes keep Prefect's class names on purpose, as
:mod:`~lume_services.services.scheduling.backends.server.state_result` does:
Prefect serializes storage and results by class name, so the server and
every flow runner read them as Prefect's own.

A refused file is an :class:`~lume_services.errors.UntrustedStoreError`
naming the file, why (owner, group or world write) and the fix.
"""

import binascii
import functools
import os
from pathlib import Path
from typing import Any, Optional

import pendulum
from prefect.engine.results import LocalResult as _PrefectsLocalResult
from prefect.storage import Local as _PrefectsLocal
from prefect.utilities.storage import flow_from_bytes_pickle
from slugify import slugify

from lume_services.services.scheduling.flow_pickle import prefect_flow_file
from lume_services.storage import check_trusted, private_dir, read_trusted, write_private

#: the store names in errors (see lume_services.errors)
FLOW_STORE = "flow_storage"
RESULTS_STORE = "task_results"

_LOADER_PREFIX = "load_"


def flow_file_location(path: os.PathLike) -> str:
    """The location :class:`Local` records for a flow file: a module path whose attribute loads it, checked."""
    encoded = binascii.hexlify(os.fsencode(os.fspath(path))).decode()
    return f"{__name__}:{_LOADER_PREFIX}{encoded}"


def flow_file_path(location: str) -> Optional[Path]:
    """The flow file a :func:`flow_file_location` names, or ``None`` for any other location."""
    module, _, attribute = location.partition(":")
    if module != __name__ or not attribute.startswith(_LOADER_PREFIX):
        return None
    return Path(os.fsdecode(binascii.unhexlify(attribute[len(_LOADER_PREFIX):])))


def load_flow_file(path: os.PathLike):
    """Unpickle a flow file :class:`Local` wrote, after checking it and its folders up to the storage folder.

    Raises:
        UntrustedStoreError: the file, or a folder above it, belongs to another
            user or others may write to it.
    """
    path = Path(path)
    return flow_from_bytes_pickle(read_trusted(path, FLOW_STORE, root=path.parent.parent))


def __getattr__(name: str) -> Any:
    # Prefect's Local.get_flow imports this module and calls the attribute a location names
    if name.startswith(_LOADER_PREFIX):
        try:
            path = os.fsdecode(binascii.unhexlify(name[len(_LOADER_PREFIX):]))
        except (binascii.Error, ValueError):
            raise AttributeError(name) from None
        return functools.partial(load_flow_file, path)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Local(_PrefectsLocal):
    """Prefect's ``Local`` storage, keeping flow files private and checking them before they are loaded.

    Flow files are written to ``<directory>/<flow slug>/<time>`` (as Prefect
    does), 0600 in 0700 folders whatever the umask; the location recorded is
    :func:`flow_file_location`'s module path, so the agent's flow run loads
    the file through :func:`load_flow_file`.

    Args:
        directory: the storage folder (made 0700 when missing).
        **kwargs: as for Prefect's ``Local``.
    """

    def __init__(self, directory: Optional[str] = None, validate: bool = True, **kwargs: Any) -> None:
        super().__init__(directory=directory, validate=False, **kwargs)
        if validate:
            self.directory = str(private_dir(Path(self.directory).expanduser().absolute(), FLOW_STORE))

    def add_flow(self, flow) -> str:
        """Write ``flow`` to a new private file; return its location (a module path that loads it, checked)."""
        if flow.name in self:
            raise ValueError(
                f'Name conflict: Flow with the name "{flow.name}" is already present in this storage.'
            )
        path = Path(self.directory) / slugify(flow.name) / slugify(pendulum.now("utc").isoformat())
        # Prefect's format, with the task code's file names kept (tracebacks in the agent name them)
        write_private(path, prefect_flow_file(flow), FLOW_STORE)
        location = flow_file_location(path)
        self.flows[flow.name] = location
        self._flows[flow.name] = flow
        return location


class LocalResult(_PrefectsLocalResult):
    """Prefect's ``LocalResult``, writing result files private and checking them before reading.

    Args:
        dir: the results folder (made 0700 when missing).
        validate_dir: make the folder now.
        **kwargs: as for Prefect's ``LocalResult``.
    """

    def __init__(self, dir: Optional[str] = None, validate_dir: bool = True, **kwargs: Any) -> None:
        super().__init__(dir=dir, validate_dir=False, **kwargs)
        if validate_dir:
            self.dir = str(private_dir(Path(self.dir).expanduser().absolute(), RESULTS_STORE))

    def read(self, location: str) -> "LocalResult":
        """Read a result file after checking it and its folder (owner, mode)."""
        new = self.copy()
        new.location = location
        path = Path(self.dir, location)
        new.value = self.serializer.deserialize(read_trusted(path, RESULTS_STORE, root=self.dir))
        return new

    def write(self, value_: Any, **kwargs: Any) -> "LocalResult":
        """Write a result file, 0600 in 0700 folders."""
        new = self.format(**kwargs)
        new.value = value_
        assert new.location is not None
        path = Path(self.dir, new.location)
        write_private(path, self.serializer.serialize(new.value), RESULTS_STORE)
        new.location = str(path)
        return new


def check_result_file(task_run) -> None:
    """Check the ``LocalResult`` file of a finished task run before its result is read (the caller's side).

    Task runs whose result is kept elsewhere (in the state, a database) pass.

    Raises:
        UntrustedStoreError: the file or its folder belongs to another user or
            others may write to it.
    """
    result = getattr(getattr(task_run, "state", None), "_result", None)
    if not isinstance(result, _PrefectsLocalResult) or not getattr(result, "location", None):
        return
    path = Path(result.dir, result.location)
    check_trusted(path, RESULTS_STORE, root=result.dir if Path(result.dir) in path.parents else None)
