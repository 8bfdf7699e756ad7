"""The kit every store of lume-services is built with: private, trusted only when ours, errors that name the cause.

A store is a file (or a folder of files) lume-services keeps between runs: the
flow registry (flows as pickled code), the results database, the local run
history, the server backends' flow files and ``LocalResult`` task results. Each
one is made and opened with this module, so each follows the same rules:

- **Private whatever the umask**: folders ``0700`` (:func:`private_dir`), files
  ``0600`` (:func:`private_file`, :func:`write_private`); SQLite gives its
  ``-wal`` and ``-shm`` files the mode of the database file.
- **Trusted only when ours** (:func:`check_trusted`), checked before anything
  is unpickled or opened: a file, and each folder from it up to the store's
  root, belongs to this user (or root) and no other user may write to it (as
  ssh refuses such keys). A folder with the sticky bit (``/tmp``) may be
  writable by all: others cannot replace what is ours in it.
- **One lock** across processes for setting a store up (:func:`setup_lock`):
  ``filelock.FileLock`` on a ``<file>.setup-lock`` beside it.
- **One SQLite policy** (:func:`open_sqlite`): WAL journaling (switched to
  under the set-up lock, since the switch does not wait on SQLite's busy
  timeout), a busy timeout, ``synchronous=NORMAL`` (a killed process loses
  nothing committed; a power loss may lose the last commits). A store used
  through SQLAlchemy takes the path from :func:`prepare_store_path` and the
  same lock.
- **One error family**: the ``OSError`` and ``sqlite3`` errors of a store become
  :class:`~lume_services.errors.StoreUnusableError` naming the store, the path,
  the cause and the setting to change (:func:`storage_errors`); a file that
  could have been written by someone else is an
  :class:`~lume_services.errors.UntrustedStoreError`; a record that cannot be
  read back is a :class:`~lume_services.errors.StoredRecordDamagedError`.
- **Faults named for what they are**: a full disk, a read-only file system, a
  damaged file. SQLite reports a file it could not map (a full disk, a
  read-only one) as "not a database"; before saying so, the file's own header
  and its file system are looked at, so an intact store is never called
  damaged and no advice ever deletes data.
"""

import errno
import functools
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

from lume_services.errors import StorageError, StoreUnusableError, UntrustedStoreError

DIR_MODE = 0o700
FILE_MODE = 0o600

#: seconds a process waits for another one's write lock on a SQLite store
BUSY_TIMEOUT = 60.0

PathLike = Union[str, Path]

_SQLITE_HEADER = b"SQLite format 3\x00"


def private_dir(path: PathLike, store: str = "home") -> Path:
    """Create a folder, and its missing parents, readable by this user only (0700).

    A folder that exists is left as it is (:func:`check_trusted` decides whether to use it).

    Raises:
        StoreUnusableError: the folder cannot be made (a file is in the way, a
            read-only disk, no permission), naming the path and the setting.
    """
    path = Path(path)
    try:
        missing = []
        p = path
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder, DIR_MODE)
            except FileExistsError:  # another process made it meanwhile
                continue
            os.chmod(folder, DIR_MODE)  # mkdir's mode is reduced by the umask, never widened
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    except OSError as exc:
        raise StoreUnusableError(store, path, _os_cause(path, exc), error=_text(exc)) from exc
    return path


def private_file(path: PathLike, store: str) -> None:
    """Create an empty file readable and writable by this user only (0600), unless it exists.

    SQLite gives its journal and WAL files the mode of the database file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if path.is_dir():
            raise StoreUnusableError(store, path, "is_a_directory") from None
        return
    except OSError as exc:
        raise StoreUnusableError(store, path, _os_cause(path, exc), error=_text(exc)) from exc
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_private(path: PathLike, data: bytes, store: str) -> Path:
    """Write ``data`` to a new file readable by this user only (0600), in a private folder.

    The file is written beside its final name and renamed into place, so a
    reader never sees half of it.

    Raises:
        StoreUnusableError: the disk is full, read-only, ... naming the path.
    """
    path = Path(path)
    private_dir(path.parent, store)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
        finally:
            os.close(fd)
        os.replace(part, path)
    except OSError as exc:
        try:
            os.unlink(part)
        except OSError:
            pass
        raise StoreUnusableError(store, path, _os_cause(path, exc), error=_text(exc)) from exc
    return path


def check_trusted(path: PathLike, store: str, root: Optional[PathLike] = None) -> None:
    """Refuse a store whose file, WAL file or folders another user owns or others may write to.

    Files owned by this user or by root are trusted. A folder with the sticky
    bit (such as ``/tmp``) may be writable by all: others cannot replace what
    is ours in it.

    Args:
        path: the file.
        store: the store's name in the errors (``registry``, ``flow_storage``, ...).
        root: the store's top folder: every folder from the file's up to it is
            checked (someone who may write to any of them could swap what is
            below). ``None`` checks the file's own folder.

    Raises:
        UntrustedStoreError: says which, why, and how to fix it.
    """
    if not hasattr(os, "geteuid"):  # not POSIX: ownership is not checked
        return
    uid = os.geteuid()
    path = Path(path)
    folders = [path.parent]
    if root is not None:
        root = Path(root)
        folder = path.parent
        while folder != root and root in folder.parents:
            folder = folder.parent
            folders.append(folder)
    candidates = [(f, True) for f in folders] + [(path, False), (Path(f"{path}-wal"), False)]
    for candidate, is_folder in candidates:
        try:
            st = os.stat(candidate)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreUnusableError(store, candidate, _os_cause(candidate, exc), error=_text(exc)) from exc
        if st.st_uid not in (uid, 0):
            raise UntrustedStoreError(store, candidate, "other_owner", st.st_uid, uid)
        if is_folder and st.st_mode & stat.S_ISVTX:
            continue
        if st.st_mode & stat.S_IWOTH:
            raise UntrustedStoreError(store, candidate, "world_writable", st.st_uid, uid)
        if st.st_mode & stat.S_IWGRP:
            raise UntrustedStoreError(store, candidate, "group_writable", st.st_uid, uid)


def read_trusted(path: PathLike, store: str, root: Optional[PathLike] = None) -> bytes:
    """The bytes of a file, read only after :func:`check_trusted` accepted it (for files that are unpickled).

    Raises:
        UntrustedStoreError: as :func:`check_trusted`.
        StoreUnusableError: the file cannot be read, naming the cause.
    """
    check_trusted(path, store, root)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StoreUnusableError(store, path, _os_cause(Path(path), exc), error=_text(exc)) from exc


def prepare_store_path(path: PathLike, store: str) -> Path:
    """Make a store's file ready to open: its folder private (0700), the file private (0600), both trusted.

    For stores opened by another library (a SQLAlchemy SQLite engine): open
    the returned path, and hold :func:`setup_lock` while creating tables.

    Raises:
        StoreUnusableError, UntrustedStoreError: named for the store and the path.
    """
    path = Path(path).expanduser()
    private_dir(path.parent, store)
    check_trusted(path, store)
    private_file(path, store)
    return path


@contextmanager
def setup_lock(path: PathLike, timeout: float = -1) -> Iterator[None]:
    """Hold an exclusive lock beside a store's file (``<file>.setup-lock``) while setting it up.

    A ``filelock.FileLock`` (``flock`` on POSIX): switching a database to WAL
    does not wait on SQLite's busy timeout, so processes opening a new
    database at once take turns here. The lock file is made 0600.

    Args:
        path: the store's file.
        timeout: seconds to wait; ``-1`` waits as long as it takes.
    """
    from filelock import FileLock

    with FileLock(f"{path}.setup-lock", timeout=timeout, mode=FILE_MODE):
        yield


def open_sqlite(
    path: PathLike,
    store: str,
    timeout: float = BUSY_TIMEOUT,
    set_up: Optional[Callable[[sqlite3.Connection], None]] = None,
    **connect_kwargs,
) -> sqlite3.Connection:
    """Open a store's SQLite file the one way stores are opened: private, trusted, WAL, busy timeout.

    Args:
        path: the file; it and its folder are created (0600, 0700) when missing.
        store: the store's name in the errors.
        timeout: seconds to wait for another process's lock.
        set_up: called with the connection under :func:`setup_lock` after the
            switch to WAL (create tables, upgrade a layout).
        **connect_kwargs: passed to ``sqlite3.connect``.

    Returns:
        A connection in autocommit mode (``isolation_level=None``): begin
        transactions explicitly (``BEGIN IMMEDIATE`` takes the write lock at
        once, so the busy timeout applies to it).
    """
    path = prepare_store_path(path, store)
    with storage_errors(store, path):
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, **connect_kwargs)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            # with WAL, NORMAL keeps the database consistent after a crash; only
            # the last commits before a power loss (not a killed process) may be lost
            conn.execute("PRAGMA synchronous = NORMAL")
            with setup_lock(path):
                use_wal(conn, timeout)
                if set_up is not None:
                    set_up(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch a database to WAL journaling, waiting up to ``timeout`` seconds for readers to let go.

    The switch needs the database to itself and, unlike other statements, does
    not wait on SQLite's busy timeout; so it is retried here.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                return
            error: Optional[sqlite3.OperationalError] = None
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            error = exc
        if time.monotonic() >= deadline:
            if error is not None:
                raise error
            return  # SQLite keeps the journal it has: slower, still correct
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


@contextmanager
def storage_errors(store: str, path: PathLike) -> Iterator[None]:
    """Turn the storage errors of a store into a :class:`StoreUnusableError` (the original as ``__cause__``).

    Errors that are not about the store itself (a locked database, an error of
    the caller's) pass unchanged.
    """
    try:
        yield
    except StorageError:
        raise
    except sqlite3.Error as exc:
        cause = _sqlite_cause(Path(path), exc)
        if cause is None:
            raise
        raise StoreUnusableError(store, path, cause, error=_text(exc)) from exc
    except OSError as exc:
        if exc.filename is None or not _related(Path(path), Path(exc.filename)):
            raise
        raise StoreUnusableError(store, path, _os_cause(Path(path), exc), error=_text(exc)) from exc


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does after a full disk)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def guarded_by_storage_errors(store: str):
    """A method decorator: the method's storage errors as :func:`storage_errors` reports them for ``self.path``.

    Args:
        store: the store's name in the errors (``registry``, ``results_db``, ...).
    """

    def decorate(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            with storage_errors(store, self.path):
                return method(self, *args, **kwargs)

        return guarded

    return decorate


# --- naming a fault ---------------------------------------------------------------

_ERRNO_CAUSES = {
    errno.ENOSPC: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.EISDIR: "is_a_directory",
    errno.ENOTDIR: "not_a_directory",
    errno.EEXIST: "not_a_directory",  # mkdir where a file is
    errno.EIO: "io_error",
}
if hasattr(errno, "EDQUOT"):
    _ERRNO_CAUSES[errno.EDQUOT] = "disk_full"


def _os_cause(path: Path, exc: OSError) -> str:
    cause = _ERRNO_CAUSES.get(exc.errno, "cannot_open")
    if cause == "permission":  # as root, or with a file mode allowing it, it is the file system
        return _file_system_cause(path) or cause
    return cause


def _file_system_cause(path: Path) -> Optional[str]:
    """``read_only`` or ``disk_full`` when the file system holding ``path`` is so, else ``None``."""
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        if st.f_flag & getattr(os, "ST_RDONLY", 1):
            return "read_only"
        if st.f_bavail == 0 or (st.f_favail == 0 and st.f_files > 0):
            return "disk_full"
        return None
    return None


def _has_sqlite_header(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


def _sqlite_cause(path: Path, exc: sqlite3.Error) -> Optional[str]:
    message = str(exc).lower()
    if "full" in message:
        return "disk_full"
    if "readonly" in message or "read-only" in message:
        return _file_system_cause(path) or "read_only"
    if "not a database" in message or "malformed" in message:
        # SQLite says so too when it cannot map the file's shared memory (a full
        # or read-only disk): an intact file is never called damaged
        found = _file_system_cause(path)
        if found is not None:
            return found
        return "damaged" if _has_sqlite_header(path) else "not_a_database"
    if "disk i/o" in message:
        return _file_system_cause(path) or "io_error"
    if "unable to open" in message:
        if path.is_dir():
            return "is_a_directory"
        if any(parent.exists() and not parent.is_dir() for parent in path.parents):
            return "not_a_directory"
        found = _file_system_cause(path)
        if found is not None:
            return found
        if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
            return "permission"
        return "cannot_open"
    return None


def _related(store_path: Path, other: Path) -> bool:
    return other == store_path or other in store_path.parents or str(other).startswith(f"{store_path}")


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
