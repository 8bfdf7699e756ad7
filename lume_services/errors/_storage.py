"""The errors of the stores lume-services keeps: the flow registry, the SQLite results and model databases, the run history, a server backend's flow files and task results."""

from typing import Optional

from lume_services.errors._base import LUMEServicesError


class StorageError(LUMEServicesError):
    """Base class of the errors of the stores lume-services keeps (the flow registry, the
    SQLite results and model databases, the local run history, a server backend's flow
    files and task results): a store is not trusted (:class:`UntrustedStoreError`),
    cannot be read or written (:class:`StoreUnusableError`), its file is not what it
    should be (:class:`RunHistoryCorruptError`), or one of its records is damaged
    (:class:`StoredRecordDamagedError`).

    What was stored before stays readable: a failed write is rolled back.
    """


# The embedded stores, and the settings that say where each one is.
_STORES = {
    "home": ("the lume-services home", "LUME_HOME"),
    "registry": ("the flow registry", "LUME_HOME (the registry is <LUME_HOME>/registry.sqlite)"),
    "results_db": (
        "the results database",
        "LUME_RESULTS_DB__PATH (default <LUME_HOME>/results.sqlite)",
    ),
    "model_db": (
        "the model database",
        "LUME_MODEL_DB__PATH (default <LUME_HOME>/models.sqlite)",
    ),
    "run_history": ("the run history", "LUME_RUN_HISTORY__PATH (default <LUME_HOME>/history/runs.sqlite)"),
    "flow_storage": (
        "the server backend's flow storage",
        "LUME_PREFECT__AGENT__STORAGE_DIR (flows are kept in <storage_dir>/flows)",
    ),
    "task_results": (
        "the task results folder",
        "LUME_PREFECT__AGENT__STORAGE_DIR (results are kept in <storage_dir>/results; "
        "on the docker backend, its results_dir)",
    ),
}


_UNTRUSTED = {
    "other_owner": "it belongs to another user (uid {owner_uid}), who could change what it holds",
    "group_writable": "its group may write to it",
    "world_writable": "every user may write to it",
}


class UntrustedStoreError(StorageError):
    """A store's file or folder could have been written by someone else, so it is not used.

    A registry holds flows as pickled code (cloudpickle): loading a flow runs
    whatever the file holds. Like ssh with keys, lume-services uses a store only
    when the file and its folder belong to this user (or root) and no other user
    may write to them.

    Args:
        store: ``registry``, ``results_db``, ``model_db``, ``run_history``,
            ``flow_storage``, ``task_results`` or ``home``.
        path: the file or folder refused.
        problem: ``other_owner``, ``group_writable`` or ``world_writable``.
        owner_uid: the uid that owns it.
        uid: the uid of this process.
    """

    def __init__(self, store: str, path, problem: str, owner_uid: int, uid: int):
        self.store = store
        self.path = str(path)
        self.problem = problem
        self.owner_uid = owner_uid
        self.uid = uid
        what, variable = _STORES[store]
        why = _UNTRUSTED[problem].format(owner_uid=owner_uid)
        if problem == "other_owner":
            fix = f"if you trust it, take it over (chown {uid} {self.path}), or set {variable} to a place of your own"
        else:
            fix = f"if you trust what it holds, run chmod go-w {self.path}"
        super().__init__(
            f"{what} at {self.path} is not used: {why}; {what} is trusted only when it and its "
            f"folder belong to you and no one else may write to them. {fix[0].upper()}{fix[1:]}"
        )


_UNUSABLE = {
    "disk_full": ("the disk is full", "free space on it, or point {variable} at another disk"),
    "read_only": ("it is read-only (a read-only filesystem or file)", "make it writable, or point {variable} at a writable place"),
    "permission": ("this user may not write there", "fix its permissions, or point {variable} at a place of your own"),
    "not_a_database": ("the file is not an SQLite database", "move it aside (a new one is made there), or point {variable} at the right file"),
    "damaged": ("SQLite reports the file damaged", "keep it: copy it aside and try sqlite3's .recover on the copy, or point {variable} at another file"),
    "is_a_directory": ("it is a folder, where a file belongs", "point {variable} at a file name, not a folder"),
    "not_a_directory": ("a part of the path is a file, where a folder belongs", "point {variable} at a folder (or a file inside one)"),
    "cannot_open": ("it cannot be created or opened", "check that its folder exists and is writable, or point {variable} elsewhere"),
    "io_error": ("the disk reported an I/O error", "check the disk, or point {variable} at another"),
}


class StoreUnusableError(StorageError):
    """A store cannot be read or written; the message names the cause and the setting to change.

    What was stored before stays readable: a failed write is rolled back. The
    original error is the ``__cause__``.

    Args:
        store: ``registry``, ``results_db``, ``model_db``, ``run_history``,
            ``flow_storage``, ``task_results`` or ``home``.
        path: the file or folder.
        cause: one of ``disk_full``, ``read_only``, ``permission``, ``not_a_database``, ``damaged``,
            ``is_a_directory``, ``not_a_directory``, ``cannot_open``, ``io_error``.
        error: the original error's text.
    """

    CAUSES = tuple(_UNUSABLE)

    def __init__(self, store: str, path, cause: str, error: object = None):
        self.store = store
        self.path = str(path)
        self.cause = cause
        self.error = error
        what, variable = _STORES[store]
        self.variable = variable.split(" ")[0]
        reason, fix = _UNUSABLE[cause]
        original = f" ({error})" if error else ""
        super().__init__(f"{what} at {self.path} cannot be used: {reason}{original}; {fix.format(variable=variable)}")


class RunHistoryCorruptError(StorageError):
    """The run history file is not a lume-services run history (another application's, or a newer schema).

    Args:
        path: the file.
        reason: what is wrong with it.
    """

    store = "run_history"  # which store, as UntrustedStoreError and StoreUnusableError say theirs

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"the run history at {self.path} cannot be read: {reason}; move the file aside "
            "(keep it) and lume-services starts a new history there, or point "
            "LUME_RUN_HISTORY__PATH at another file"
        )


class StoredRecordDamagedError(StorageError):
    """A record of a store cannot be read back: its bytes are damaged; the file and its other records are intact.

    Args:
        store: ``registry``, ``run_history``, ``flow_storage`` or ``task_results``.
        path: the store's file.
        flow_name: the flow the record is of.
        error: the error reading it gave.
        project_name: the flow's project, where known.
        version: the flow's version (a registry record).
        run_id: the run (a run history record).
    """

    def __init__(self, store: str, path, flow_name: Optional[str], error: object = None,
                 project_name: Optional[str] = None, version: Optional[int] = None,
                 run_id: Optional[str] = None):
        self.store = store
        self.path = str(path)
        self.flow_name = flow_name
        self.error = error
        self.project_name = project_name
        self.version = version
        self.run_id = run_id
        what = _STORES[store][0]
        record = f"flow {flow_name!r}" if flow_name is not None else "a record"
        if version is not None:
            record += f" version {version}"
        if project_name is not None:
            record += f" of project {project_name!r}"
        if run_id is not None:
            record = f"run {run_id!r} of {record}"
        original = f" ({error})" if error else ""
        again = "register the flow again" if store in ("registry", "flow_storage") else "run it again"
        super().__init__(
            f"{record} in {what} at {self.path} cannot be read: it is damaged{original}; "
            f"the file's other records are intact, so keep the file: {again}, or restore the file from a backup"
        )
