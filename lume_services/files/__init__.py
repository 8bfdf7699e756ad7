"""Files that flows write and hand to each other by a small JSON reference.

A flow saves an object with a file type (``TextFile``, ``JSONFile``, ...) on one
of the configured filesystems and returns ``file.jsonable_dict()``; another
flow run, possibly in another process or container, loads it with
:func:`file_from_reference` (or the packaged ``load_file`` task).
"""

# The composition root first: its container wires this package when it is made.
import lume_services.config  # noqa: F401,I001

from lume_services.files.file import (
    File,
    HDF5File,
    ImageFile,
    JSONFile,
    TextFile,
    YAMLFile,
    file_from_reference,
    get_file_type,
)
from lume_services.files.utils import get_file_from_serializer_string

__all__ = [
    "File",
    "HDF5File",
    "ImageFile",
    "JSONFile",
    "TextFile",
    "YAMLFile",
    "file_from_reference",
    "get_file_from_serializer_string",
    "get_file_type",
]
