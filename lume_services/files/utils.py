"""LUME-services' ``lume_services.files.utils``: a thin, compatible re-export.

``get_file_from_serializer_string`` is :func:`lume_services.files.file.get_file_type`
under LUME-services' name: it returns the file class a ``"module:ClassName"``
(or dotted) type string names, and refuses anything but a ``File`` subclass
with :class:`~lume_services.errors.UnknownFileTypeError`.
"""

from lume_services.files.file import get_file_type as get_file_from_serializer_string

__all__ = ["get_file_from_serializer_string"]
