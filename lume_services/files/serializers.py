"""Serializers: how each file type turns an object into bytes on disk and back.

A serializer works on a real local path; the filesystem it is used with has
already mapped (and checked) the path the user gave.
"""

import importlib
import json
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any

import yaml

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
    """Writes an object to a local path and reads it back."""

    @abstractmethod
    def serialize(self, path: str, obj: Any) -> None:
        """Write ``obj`` to the file at ``path`` (which may not exist yet)."""

    @abstractmethod
    def deserialize(self, path: str) -> Any:
        """Read the object stored in the file at ``path``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class TextSerializer(Serializer):
    """Text, encoded as UTF-8."""

    def serialize(self, path: str, obj: str) -> None:
        """Write the text."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(obj)

    def deserialize(self, path: str) -> str:
        """Read the text."""
        with open(path, encoding="utf-8") as f:
            return f.read()


class YAMLSerializer(Serializer):
    """Plain data (dicts, lists, strings, numbers) as YAML, with safe loading."""

    def serialize(self, path: str, obj: Any) -> None:
        """Write the data as YAML, keeping the order of dict keys."""
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(obj, f, sort_keys=False)

    def deserialize(self, path: str) -> Any:
        """Read the YAML document."""
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)


class JSONSerializer(Serializer):
    """Plain data (dicts, lists, strings, numbers, booleans, None) as JSON."""

    def serialize(self, path: str, obj: Any) -> None:
        """Write the data as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)

    def deserialize(self, path: str) -> Any:
        """Read the JSON document."""
        with open(path, encoding="utf-8") as f:
            return json.load(f)


class HDF5Serializer(Serializer):
    """A dict as an HDF5 file: nested dicts become groups, other values datasets.

    Needs ``h5py`` (extra ``lume-services[hdf5]``). Datasets read back as numpy
    arrays or numpy scalars; string datasets read back as ``str``.
    """

    def serialize(self, path: str, obj: dict) -> None:
        """Write the dict."""
        h5py = import_extra("h5py", "HDF5File", "hdf5")
        with h5py.File(path, "w") as f:
            self._write_group(f, obj)

    def deserialize(self, path: str) -> dict:
        """Read the file into a dict of the same shape."""
        h5py = import_extra("h5py", "HDF5File", "hdf5")
        with h5py.File(path, "r") as f:
            return self._read_group(h5py, f)

    def _write_group(self, group, obj: dict) -> None:
        for key, value in obj.items():
            if isinstance(value, dict):
                self._write_group(group.create_group(str(key)), value)
            else:
                group.create_dataset(str(key), data=value)

    def _read_group(self, h5py, group) -> dict:
        out = {}
        for key, item in group.items():
            if isinstance(item, h5py.Group):
                out[key] = self._read_group(h5py, item)
            elif h5py.check_string_dtype(item.dtype) is not None:
                out[key] = item.asstr()[()]
            else:
                out[key] = item[()]
        return out


class ImageSerializer(Serializer):
    """A Pillow image, in the format the file name's extension names (``.png``, ...).

    Needs ``Pillow`` (extra ``lume-services[image]``).
    """

    def serialize(self, path: str, obj: Any) -> None:
        """Write the image."""
        import_extra("PIL.Image", "ImageFile", "image")
        obj.save(path)

    def deserialize(self, path: str) -> Any:
        """Read the image fully into memory (the file is closed on return)."""
        image_module = import_extra("PIL.Image", "ImageFile", "image")
        with image_module.open(path) as image:
            image.load()
        return image
