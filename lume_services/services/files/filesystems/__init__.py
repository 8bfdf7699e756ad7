"""Filesystems that files live on: the local one and a folder mounted into containers.

A filesystem maps the path a file reference holds to a real local path and
reads or writes through a serializer. The two differ only in that mapping:
the local filesystem takes paths as they are; a mounted filesystem takes paths
under its alias (what a container sees) and refuses any that lead outside it.
Each lives in the module LUME-services put it in (``.filesystem``, ``.local``,
``.mounted``); all are importable from here, with ``PathNotInMount``, which
LUME-services' first releases defined in ``.mounted`` (it lives in
``lume_services.errors``), and LUME-services' ``get_filesystem_from_serializer_string``.
"""

from typing import Type


from lume_services.errors import PathNotInMount

from lume_services.services.files.filesystems.filesystem import Filesystem
from lume_services.services.files.filesystems.local import LocalFilesystem
from lume_services.services.files.filesystems.mounted import MountedFilesystem



def get_filesystem_from_serializer_string(filesystem_type_string: str) -> Type[Filesystem]:
    """Return the filesystem class a ``"module:ClassName"`` (or dotted) type string names.

    LUME-services' lookup of a filesystem type by the type string it stored.

    Args:
        filesystem_type_string: e.g.
            ``"lume_services.services.files.filesystems.local:LocalFilesystem"``.

    Raises:
        UnknownFilesystemTypeError: the string names no ``Filesystem`` subclass.
    """
    from lume_services.errors import UnknownFilesystemTypeError
    from lume_services.type_strings import import_type_string

    return import_type_string(filesystem_type_string, Filesystem, UnknownFilesystemTypeError)


__all__ = [
    "Filesystem",
    "LocalFilesystem",
    "MountedFilesystem",
    "PathNotInMount",
    "get_filesystem_from_serializer_string",
]
