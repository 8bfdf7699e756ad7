"""Filesystems that files live on: the local one and a folder mounted into containers.

A filesystem maps the path a file reference holds to a real local path and
reads or writes through a serializer. The two differ only in that mapping:
the local filesystem takes paths as they are; a mounted filesystem takes paths
under its alias (what a container sees) and refuses any that lead outside it.
"""

import os
import posixpath
import uuid
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from lume_services.errors import InvalidMountError, PathNotInMount

if TYPE_CHECKING:  # pragma: no cover (files/ is the layer above; only its type is named)
    from lume_services.files.serializers import Serializer


class Filesystem(ABC):
    """Where files live, named by an identifier that file references carry.

    Attributes:
        identifier: the name file references use for this filesystem.
    """

    identifier: str

    @abstractmethod
    def resolve(self, path: str) -> str:
        """Return the real local path of ``path``, checking that it may be used."""

    @abstractmethod
    def absolute_path(self, path: str) -> str:
        """Return ``path`` made absolute and normalised, in this filesystem's own terms."""

    def read(self, path: str, serializer: "Serializer") -> Any:
        """Read the object stored at ``path``.

        Args:
            path: the file's path on this filesystem.
            serializer: how the file type stores its object.

        Returns:
            The object.

        Raises:
            FileNotFoundError: no file at ``path``.
        """
        return serializer.deserialize(self.resolve(path))

    def write(self, path: str, obj: Any, serializer: "Serializer", create_dir: bool = False) -> str:
        """Write ``obj`` to ``path``; readers see the old file or the new one, never a part.

        Args:
            path: the file's path on this filesystem.
            obj: the object to write.
            serializer: how the file type stores its object.
            create_dir: create missing parent directories.

        Returns:
            The absolute path written, in this filesystem's terms.

        Raises:
            FileNotFoundError: the directory is missing and ``create_dir`` is false.
        """
        target = self.resolve(path)
        directory, name = os.path.split(target)
        if create_dir:
            os.makedirs(directory, exist_ok=True)
        elif not os.path.isdir(directory):
            raise FileNotFoundError(
                f"directory of {path!r} does not exist on filesystem {self.identifier!r}; "
                "pass create_dir=True to create it"
            )
        # the suffix stays last: some serializers (images) choose the format by it
        suffix = os.path.splitext(name)[1]
        tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.part{suffix}")
        try:
            serializer.serialize(tmp, obj)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return self.absolute_path(path)

    def file_exists(self, path: str) -> bool:
        """Return whether a file exists at ``path``."""
        return os.path.isfile(self.resolve(path))

    def dir_exists(self, path: str) -> bool:
        """Return whether a directory exists at ``path``."""
        return os.path.isdir(self.resolve(path))

    def create_dir(self, path: str) -> None:
        """Create the directory ``path`` and its missing parents."""
        os.makedirs(self.resolve(path), exist_ok=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identifier={self.identifier!r})"


class LocalFilesystem(Filesystem):
    """The filesystem of the process itself (identifier ``local``).

    Relative paths are relative to the working directory and ``~`` is expanded;
    references hold the absolute path.

    Args:
        identifier: the name file references use for it.
    """

    def __init__(self, identifier: str = "local"):
        self.identifier = identifier

    def resolve(self, path: str) -> str:
        """Return the absolute local path."""
        return self.absolute_path(path)

    def absolute_path(self, path: str) -> str:
        """Return the absolute, normalised path with ``~`` expanded."""
        return os.path.abspath(os.path.expanduser(str(path)))


def _within(path: str, root: str, sep: str) -> bool:
    return path == root or path.startswith(root.rstrip(sep) + sep)


class MountedFilesystem(Filesystem):
    """A host folder mounted into flow containers under another path (the alias).

    References hold paths under ``mount_alias``, the path containers see, so
    they mean the same file in a container and on the host. Relative paths are
    taken relative to the alias. A path that leads outside the mount (through
    ``..``, a symlink pointing outside, or an absolute path elsewhere) raises
    :class:`~lume_services.errors.PathNotInMount` before anything is touched.

    Args:
        mount_path: the mounted folder on the host (this process's view).
        mount_alias: the absolute path it is seen under in containers.
        identifier: the name file references use for it.

    Raises:
        InvalidMountError: ``mount_alias`` is not an absolute path.
    """

    def __init__(self, mount_path: str, mount_alias: str, identifier: str = "mounted"):
        if not posixpath.isabs(str(mount_alias)):
            raise InvalidMountError(str(mount_alias))
        self.mount_path = os.path.abspath(os.path.expanduser(str(mount_path)))
        self.mount_alias = posixpath.normpath(str(mount_alias))
        self.identifier = identifier

    def absolute_path(self, path: str) -> str:
        """Return the normalised path under the alias.

        Raises:
            PathNotInMount: the path leads outside the alias.
        """
        given = str(path)
        joined = posixpath.join(self.mount_alias, given)  # an absolute path stays itself
        normalised = posixpath.normpath(joined)
        if not _within(normalised, self.mount_alias, "/"):
            if ".." in joined.split("/"):
                reason = "'..' leads out of the mount"
            else:
                reason = "an absolute path outside the mount alias"
            raise PathNotInMount(given, self.mount_alias, self.mount_path, reason)
        return normalised

    def to_mount_path(self, path: str) -> str:
        """Map a path under the alias to the host path, without checking symlinks.

        Raises:
            PathNotInMount: the path leads outside the alias.
        """
        relative = posixpath.relpath(self.absolute_path(path), self.mount_alias)
        if relative == ".":
            return self.mount_path
        return os.path.join(self.mount_path, *relative.split("/"))

    def to_alias_path(self, host_path: str) -> str:
        """Map a host path inside the mount to the path containers see.

        Raises:
            PathNotInMount: the host path is not inside the mount.
        """
        host = os.path.abspath(os.path.expanduser(str(host_path)))
        if not _within(host, self.mount_path, os.sep):
            raise PathNotInMount(
                str(host_path), self.mount_alias, self.mount_path,
                "a host path outside the mounted folder",
            )
        relative = os.path.relpath(host, self.mount_path)
        if relative == ".":
            return self.mount_alias
        return posixpath.join(self.mount_alias, *relative.split(os.sep))

    def resolve(self, path: str) -> str:
        """Return the host path of ``path``, refusing any way out of the mount.

        Raises:
            PathNotInMount: the path, or a symlink on it, leads outside the mount.
        """
        host = self.to_mount_path(path)
        real = os.path.realpath(host)
        real_root = os.path.realpath(self.mount_path)
        if not _within(real, real_root, os.sep):
            raise PathNotInMount(
                str(path), self.mount_alias, self.mount_path,
                f"a symlink on it leads to {real!r}",
            )
        return host

    def __repr__(self) -> str:
        return (
            f"MountedFilesystem(mount_path={self.mount_path!r}, "
            f"mount_alias={self.mount_alias!r}, identifier={self.identifier!r})"
        )
