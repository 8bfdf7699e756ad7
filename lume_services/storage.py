"""The files the embedded stores live in: private, trusted only when ours, errors that name the cause.

The flow registry holds flows as pickled code (cloudpickle), so loading one runs
what the file holds; the results database holds what flows read back. Both live
under ``LUME_HOME``. This module makes their folders (mode 0700) and files (mode
0600) whatever the umask, refuses a file or folder that another user owns or
that others may write to (as ssh refuses such keys), serialises the set-up of a
new store across processes, and turns the ``OSError`` and ``sqlite3`` errors of
a store into :class:`~lume_services.errors.StoreUnusableError` naming the path,
the cause and the setting to change.
"""

import errno
import functools
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

from lume_services.errors import StorageError, StoreUnusableError, UntrustedStoreError

DIR_MODE = 0o700
FILE_MODE = 0o600

PathLike = Union[str, Path]


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


def check_trusted(path: PathLike, store: str) -> None:
    """Refuse a store whose file, WAL file or folder another user owns or others may write to.

    Files owned by this user or by root are trusted. A folder with the sticky
    bit (such as ``/tmp``) may be writable by all: others cannot replace what
    is ours in it.

    Raises:
        UntrustedStoreError: says which, why, and how to fix it.
    """
    if not hasattr(os, "geteuid"):  # not POSIX: ownership is not checked
        return
    uid = os.geteuid()
    path = Path(path)
    for candidate, is_folder in ((path.parent, True), (path, False), (Path(f"{path}-wal"), False)):
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


@contextmanager
def setup_lock(path: PathLike) -> Iterator[None]:
    """Hold an exclusive lock beside a database file while setting it up.

    Switching a database to WAL does not wait on SQLite's busy timeout, so
    processes opening a new database at once take turns here.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on SQLite's own locking
        yield
        return
    fd = os.open(f"{path}.setup-lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
    return _ERRNO_CAUSES.get(exc.errno, "cannot_open")


def _sqlite_cause(path: Path, exc: sqlite3.Error) -> Optional[str]:
    message = str(exc).lower()
    if "full" in message:
        return "disk_full"
    if "readonly" in message or "read-only" in message:
        return "read_only"
    if "not a database" in message or "malformed" in message:
        return "not_a_database"
    if "disk i/o" in message:
        return "io_error"
    if "unable to open" in message:
        if path.is_dir():
            return "is_a_directory"
        if any(parent.exists() and not parent.is_dir() for parent in path.parents):
            return "not_a_directory"
        if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
            return "permission"
        return "cannot_open"
    return None


def _related(store_path: Path, other: Path) -> bool:
    return other == store_path or other in store_path.parents or str(other).startswith(f"{store_path}")


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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
