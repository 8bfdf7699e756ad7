"""The local filesystem: the files of the process itself."""

import os

from lume_services.services.files.filesystems.filesystem import Filesystem


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
