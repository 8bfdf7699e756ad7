"""The file service: reads and writes files on the filesystem a reference names."""

from collections import Counter
from typing import TYPE_CHECKING, Any, Dict, List

from lume_services.errors import DuplicateFilesystemError, FilesystemNotConfiguredError
from lume_services.services.files.filesystems.filesystem import Filesystem, original_keywords
from lume_services.services.files.filesystems.mounted import MountedFilesystem

if TYPE_CHECKING:  # pragma: no cover (files/ is the layer above; only its type is named)
    from lume_services.files.serializers.base import Serializer

#: LUME-services' name of :class:`~lume_services.errors.FilesystemNotConfiguredError` (a re-export).
FilesystemNotConfigured = FilesystemNotConfiguredError


class FileService:
    """Reads and writes files on the configured filesystems, chosen by identifier.

    Args:
        filesystems: the filesystems, each with its own identifier.

    Raises:
        DuplicateFilesystemError: two filesystems share an identifier.
    """

    def __init__(self, filesystems: List[Filesystem]):
        counts = Counter(fs.identifier for fs in filesystems)
        duplicated = [name for name, n in counts.items() if n > 1]
        if duplicated:
            raise DuplicateFilesystemError(duplicated)
        self._filesystems: Dict[str, Filesystem] = {fs.identifier: fs for fs in filesystems}

    @property
    def identifiers(self) -> List[str]:
        """The identifiers of the configured filesystems."""
        return sorted(self._filesystems)

    def get_filesystem(self, filesystem_identifier: str) -> Filesystem:
        """Return the filesystem with this identifier.

        Raises:
            FilesystemNotConfiguredError: no filesystem has it; the message lists
                the configured identifiers.
        """
        try:
            return self._filesystems[filesystem_identifier]
        except KeyError:
            raise FilesystemNotConfiguredError(filesystem_identifier, self._filesystems) from None

    @original_keywords(file="filename")
    def read(self, filesystem_identifier: str, filename: str, serializer: "Serializer") -> Any:
        """Read the object stored in ``filename`` on the filesystem.

        Args:
            filesystem_identifier: the filesystem.
            filename: the path on it.
            serializer: how the file type stores its object.

        Returns:
            The object.
        """
        return self.get_filesystem(filesystem_identifier).read(filename, serializer)

    @original_keywords(filepath="filename", object="obj")
    def write(
        self,
        filesystem_identifier: str,
        filename: str,
        obj: Any,
        serializer: "Serializer",
        create_dir: bool = False,
    ) -> str:
        """Write ``obj`` to ``filename`` on the filesystem, atomically.

        Args:
            filesystem_identifier: the filesystem.
            filename: the path on it.
            obj: the object.
            serializer: how the file type stores its object.
            create_dir: create missing parent directories.

        Returns:
            The absolute path written, in the filesystem's terms.
        """
        return self.get_filesystem(filesystem_identifier).write(
            filename, obj, serializer, create_dir=create_dir
        )

    @original_keywords(file="filename")
    def file_exists(self, filesystem_identifier: str, filename: str) -> bool:
        """Return whether ``filename`` is a file on the filesystem."""
        return self.get_filesystem(filesystem_identifier).file_exists(filename)

    @original_keywords(dir="dirname")
    def dir_exists(self, filesystem_identifier: str, dirname: str, create_dir: bool = False) -> bool:
        """Return whether ``dirname`` is a directory on the filesystem.

        Args:
            filesystem_identifier: the filesystem.
            dirname: the directory's path on it.
            create_dir: create it when it is missing (the answer is then ``True``).
        """
        return self.get_filesystem(filesystem_identifier).dir_exists(dirname, create_dir=create_dir)

    @original_keywords(dir="dirname")
    def create_dir(self, filesystem_identifier: str, dirname: str) -> None:
        """Create the directory ``dirname`` (and its parents) on the filesystem."""
        self.get_filesystem(filesystem_identifier).create_dir(dirname)

    def get_mounted_filesystems(self) -> Dict[str, MountedFilesystem]:
        """Return the mounted filesystems, by identifier (to bind them into run containers)."""
        return {
            identifier: fs for identifier, fs in self._filesystems.items() if isinstance(fs, MountedFilesystem)
        }

    def __repr__(self) -> str:
        return f"FileService({list(self._filesystems.values())!r})"
