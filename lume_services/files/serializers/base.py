"""The serializer interface, and the import of the optional packages serializers need."""

import importlib
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any

from lume_services.errors import MissingExtraError


def import_extra(module: str, feature: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it.

    Args:
        module: the module to import (``h5py``).
        feature: what needs it, for the message (``HDF5File``).
        extra: the lume-services extra that installs it (``hdf5``).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: the module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, module, extra) from exc


class Serializer(ABC):
    """Writes an object to a local path and reads it back.

    The packaged serializers' ``deserialize`` is a classmethod, as in
    LUME-services (``TextSerializer.deserialize(path)``); it is called on
    instances too, so a subclass may define it either way.
    """

    @abstractmethod
    def serialize(self, path: str, obj: Any) -> None:
        """Write ``obj`` to the file at ``path`` (which may not exist yet)."""

    @abstractmethod
    def deserialize(self, path: str) -> Any:
        """Read the object stored in the file at ``path``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
