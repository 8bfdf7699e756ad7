"""The errors of files and of the filesystems of the file service."""

from typing import Iterable

from lume_services.errors._base import LUMEServicesError, _names


class FileError(LUMEServicesError):
    """Base class of the errors of files and filesystems: a filesystem not
    configured or configured twice (:class:`FilesystemNotConfiguredError`,
    :class:`DuplicateFilesystemError`), a mount alias that is not absolute
    (:class:`InvalidMountError`), a path leaving its mount
    (:class:`PathNotInMount`), a file type, filesystem type or reference that is not one
    (:class:`UnknownFileTypeError`, :class:`UnknownFilesystemTypeError`,
    :class:`InvalidFileReferenceError`), nothing
    to write (:class:`FileHasNoObjectError`), a path that is not a regular file
    or is over its filesystem's read limit (:class:`NotARegularFileError`,
    :class:`FileTooLargeError`, both also ``OSError``)."""


class FilesystemNotConfiguredError(FileError):
    """A file names a filesystem identifier that the file service does not have.

    Args:
        identifier: the identifier asked for.
        configured: the identifiers of the configured filesystems.
    """

    def __init__(self, identifier: str, configured: Iterable[str]):
        self.identifier = identifier
        self.configured = sorted(configured)
        super().__init__(
            f"filesystem {identifier!r} is not configured; configured filesystems: "
            f"{_names(self.configured)} (a mounted filesystem is configured with "
            "LUME_MOUNTED_FILESYSTEM__MOUNT_PATH and LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS)"
        )


class DuplicateFilesystemError(FileError):
    """Two filesystems given to the file service share an identifier."""

    def __init__(self, identifiers: Iterable[str]):
        self.identifiers = sorted(set(identifiers))
        super().__init__(
            "each filesystem needs its own identifier; given more than once: "
            f"{_names(self.identifiers)}"
        )


class PathNotInMount(FileError):
    """A path on a mounted filesystem leads outside the mount.

    Raised before anything is read, written or created.

    Args:
        path: the path as given.
        mount_alias: the path the mount is seen under (in containers).
        mount_path: the mounted folder on the host.
        reason: how the path escapes (``..``, a symlink, another absolute path).
    """

    def __init__(self, path: str, mount_alias: str, mount_path: str, reason: str):
        self.path = path
        self.mount_alias = mount_alias
        self.mount_path = mount_path
        self.reason = reason
        super().__init__(
            f"path {path!r} is not inside the mounted filesystem ({reason}); paths must "
            f"lie under the mount alias {mount_alias!r} (host folder {mount_path!r})"
        )


class InvalidMountError(FileError):
    """A mounted filesystem is configured with a mount alias that is not an absolute path."""

    def __init__(self, mount_alias: str):
        self.mount_alias = mount_alias
        super().__init__(
            f"mount alias {mount_alias!r} must be an absolute path (the path containers "
            "see the mounted folder under), e.g. '/lume/data'"
        )


class UnknownFileTypeError(FileError):
    """A file reference names a file type that cannot be imported or is not a ``File``.

    Args:
        file_type_string: the ``"module:ClassName"`` string of the reference.
        reason: why it cannot be used.
    """

    def __init__(self, file_type_string: object, reason: str):
        self.file_type_string = file_type_string
        super().__init__(
            f"file type {file_type_string!r} cannot be used: {reason}; a file type is "
            "given as 'module:ClassName' of a subclass of lume_services.files.File "
            "(for example 'lume_services.files:TextFile')"
        )


class InvalidFileReferenceError(FileError):
    """A value given as a file reference is not one.

    Args:
        reference: the value given.
        reason: what is wrong with it.
    """

    def __init__(self, reference: object, reason: str):
        self.reference = reference
        super().__init__(
            f"not a file reference ({reason}): {reference!r}; a file reference is the "
            "dict returned by File.jsonable_dict() or the SaveFile task, with keys "
            "'file_type_string', 'filename' and 'filesystem_identifier'"
        )


class FileHasNoObjectError(FileError):
    """``File.write()`` was called with no object, and the file holds none."""

    def __init__(self, filename: str):
        self.filename = filename
        super().__init__(
            f"nothing to write to {filename!r}: pass the object, file.write(obj), or set "
            "file.obj first"
        )


class NotARegularFileError(FileError, OSError):
    """A file to read or write is not a regular file (a device, a FIFO, a socket, a directory).

    Reading ``/dev/zero`` would never end and a FIFO would block forever, so a
    filesystem reads and writes regular files only.

    Args:
        path: the path as given.
        kind: what is there instead (``"a FIFO"``, ``"a directory"``, ...).
        filesystem: the filesystem's identifier.
    """

    def __init__(self, path: str, kind: str, filesystem: str):
        self.path, self.kind, self.filesystem = path, kind, filesystem
        super().__init__(
            f"{path!r} on filesystem {filesystem!r} is {kind}, not a regular file; "
            "file references name regular files only"
        )


class FileTooLargeError(FileError, OSError):
    """A file to read is larger than its filesystem's read limit.

    Args:
        path: the path as given.
        size: its size in bytes.
        limit: the filesystem's ``max_file_size`` in bytes.
        filesystem: the filesystem's identifier.
    """

    def __init__(self, path: str, size: int, limit: int, filesystem: str):
        self.path, self.size, self.limit, self.filesystem = path, size, limit, filesystem
        super().__init__(
            f"{path!r} on filesystem {filesystem!r} is {size:,} bytes, over its read limit of "
            f"{limit:,} bytes; raise the limit (filesystem.max_file_size = <bytes>, or None for "
            "no limit) if the file is what you meant to load"
        )


class UnknownFilesystemTypeError(FileError):
    """A type string names no filesystem class (LUME-services' ``get_filesystem_from_serializer_string``).

    Args:
        filesystem_type_string: the ``"module:ClassName"`` string.
        reason: why it cannot be used.
    """

    def __init__(self, filesystem_type_string: object, reason: str):
        self.filesystem_type_string = filesystem_type_string
        super().__init__(
            f"filesystem type {filesystem_type_string!r} cannot be used: {reason}; give "
            "'module:ClassName' of a subclass of lume_services.services.files.filesystems.Filesystem "
            "(for example 'lume_services.services.files.filesystems.local:LocalFilesystem')"
        )
