"""HDF5 files (``HDF5File``; needs ``h5py``)."""

from typing import Any

from lume_services.files.serializers.base import Serializer, import_extra


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

    @classmethod
    def deserialize(cls, path: str) -> dict:
        """Read the file into a dict of the same shape."""
        h5py = import_extra("h5py", "HDF5File", "hdf5")
        with h5py.File(path, "r") as f:
            return cls._read_group(h5py, f)

    def _write_group(self, group: Any, obj: dict) -> None:
        for key, value in obj.items():
            if isinstance(value, dict):
                self._write_group(group.create_group(str(key)), value)
            else:
                group.create_dataset(str(key), data=value)

    @classmethod
    def _read_group(cls, h5py: Any, group: Any) -> dict:
        out = {}
        for key, item in group.items():
            if isinstance(item, h5py.Group):
                out[key] = cls._read_group(h5py, item)
            elif h5py.check_string_dtype(item.dtype) is not None:
                out[key] = item.asstr()[()]
            else:
                out[key] = item[()]
        return out
