"""Serializers: how each file type turns an object into bytes on disk and back.

A serializer works on a real local path; the filesystem it is used with has
already mapped (and checked) the path the user gave. Each serializer lives in
the module LUME-services named for its format (``lume_services.files.serializers.text``,
``.yaml``, ``.image``; here also ``.json`` and ``.hdf5``); all are importable from here.
"""

from lume_services.files.serializers.base import Serializer, import_extra
from lume_services.files.serializers.hdf5 import HDF5Serializer
from lume_services.files.serializers.image import ImageSerializer
from lume_services.files.serializers.json import JSONSerializer
from lume_services.files.serializers.text import TextSerializer
from lume_services.files.serializers.yaml import YAMLSerializer

__all__ = [
    "HDF5Serializer",
    "ImageSerializer",
    "JSONSerializer",
    "Serializer",
    "TextSerializer",
    "YAMLSerializer",
    "import_extra",
]
