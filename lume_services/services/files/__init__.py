"""The file service and the filesystems it reads and writes on."""

from lume_services.services.files.filesystems import (
    Filesystem,
    LocalFilesystem,
    MountedFilesystem,
)
from lume_services.services.files.service import FileService

__all__ = ["FileService", "Filesystem", "LocalFilesystem", "MountedFilesystem"]
