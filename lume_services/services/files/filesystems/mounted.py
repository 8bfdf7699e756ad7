"""A mounted filesystem: a host folder seen by flow containers under another path (the alias)."""

import os
import posixpath
from typing import Literal

from lume_services.errors import InvalidMountError, PathNotInMount
from lume_services.services.files.filesystems.filesystem import Filesystem, _within

#: how the mounted folder is provided (Kubernetes' hostPath types)
MountType = Literal["Directory", "DirectoryOrCreate"]
MOUNT_TYPES = ("Directory", "DirectoryOrCreate")


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
        mount_type: ``DirectoryOrCreate`` (the default) creates the folder
            when it is missing; ``Directory`` leaves it to exist already
            (the names of Kubernetes' hostPath types, as in LUME-services).

    Raises:
        InvalidMountError: ``mount_alias`` is not an absolute path.
    """

    def __init__(
        self,
        mount_path: str,
        mount_alias: str,
        identifier: str = "mounted",
        mount_type: MountType = "DirectoryOrCreate",
    ):
        if not posixpath.isabs(str(mount_alias)):
            raise InvalidMountError(str(mount_alias))
        if mount_type not in MOUNT_TYPES:
            raise ValueError(f"mount_type {mount_type!r} is not one of {', '.join(MOUNT_TYPES)}")
        self.mount_path = os.path.abspath(os.path.expanduser(str(mount_path)))
        self.mount_alias = posixpath.normpath(str(mount_alias))
        self.identifier = identifier
        self.mount_type = mount_type
        if mount_type == "DirectoryOrCreate":
            os.makedirs(self.mount_path, exist_ok=True)

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
            f"mount_alias={self.mount_alias!r}, identifier={self.identifier!r}, "
            f"mount_type={self.mount_type!r})"
        )
