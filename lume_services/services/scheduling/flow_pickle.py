"""Pickling a flow for the registry so that its code keeps the name of the file it came from.

cloudpickle pickles by value the functions it cannot import by name: those of a script run as
``__main__``, of a notebook cell, of a module imported under a name that is not importable
later. It renames every code object it pickles that way ``<dynamic-code>`` (to make the bytes
independent of where the code was defined), so a task of a registered flow that raises shows
``File "<dynamic-code>", line 7`` in its traceback: the line is right, the file is lost, and
no source line is shown.

:func:`dumps` is cloudpickle with one reducer more: a code object is pickled as cloudpickle
pickles it, plus the name of its file, and is rebuilt under that name when the flow is loaded;
:func:`prefect_flow_file` writes it in the format of Prefect's ``Local`` storage, for the flow
files a server's agent loads and those a flow image holds. The executors that send tasks to
other processes send them pickled so too (``backends/local/shipped_tasks.py``). Tracebacks then
name the script (``/work/my_flows.py``, line 7, with
its source line when the file is there) or the notebook cell (IPython names a cell's code
after a file of its own and keeps the cell's lines in :mod:`linecache`, so in the kernel
that defined it the traceback shows the cell's line too).

Nothing more is run at load than cloudpickle runs: a code object is built from the pickled
fields, as cloudpickle's own reducer does, and only renamed (``code.replace``,
called through ``operator.methodcaller``), so loading needs nothing but cloudpickle and the
standard library. Flows pickled before (plain cloudpickle, or naming :func:`code_in_file`,
which stays for them) load as they did.

cloudpickle has no option for this; its ``Pickler.dispatch_table`` is the documented way of
pickle to add a reducer for a type, and the base reducer is cloudpickle's own, looked up there.
"""

import io
import operator
import types
from collections import ChainMap
from typing import Any


def code_in_file(fields: tuple, filename: str) -> types.CodeType:
    """A code object from cloudpickle's fields, named after the file it was compiled from.

    Flows pickled by earlier versions name this function; those pickled now name only
    ``operator.methodcaller`` and ``types.CodeType``, which do the same.

    Args:
        fields: the arguments of ``types.CodeType`` cloudpickle recorded for it.
        filename: ``co_filename`` of the code when it was pickled.
    """
    return types.CodeType(*fields).replace(co_filename=filename)


class _CodeFields:
    """Pickled as cloudpickle pickles a code object (``types.CodeType(*fields)``); never loaded as itself."""

    def __init__(self, fields: tuple):
        self.fields = fields

    def __reduce__(self):
        return types.CodeType, self.fields


def _pickler_class():
    import cloudpickle

    base_reduce = cloudpickle.Pickler.dispatch_table[types.CodeType]

    def reduce_code(code: types.CodeType):
        reduced = base_reduce(code)
        if reduced[0] is not types.CodeType:  # another cloudpickle: keep what it does
            return reduced
        # loaded as ``types.CodeType(*fields).replace(co_filename=...)``: only the standard
        # library is named, so a flow pickled here loads wherever cloudpickle's own pickles do
        # (a flow image whose base has Prefect but not lume-services, a remote dask worker)
        return operator.methodcaller("replace", co_filename=code.co_filename), (_CodeFields(reduced[1]),)

    class FilePreservingPickler(cloudpickle.Pickler):
        dispatch_table = ChainMap({types.CodeType: reduce_code}, cloudpickle.Pickler.dispatch_table)

    return FilePreservingPickler


_PICKLER = None


def prefect_flow_file(flow: Any) -> bytes:
    """A flow file of Prefect's ``Local`` storage (``flow_from_bytes_pickle`` reads it), pickled by :func:`dumps`.

    The same JSON document as Prefect's ``flow_to_bytes_pickle`` writes: the pickle, in
    base64, and the cloudpickle and Prefect versions it was made with.
    """
    import binascii
    import json

    import cloudpickle
    import prefect

    pickled = binascii.b2a_base64(dumps(flow, protocol=4), newline=False).decode("ascii")
    versions = {"cloudpickle": cloudpickle.__version__, "prefect": prefect.__version__}
    return json.dumps({"flow": pickled, "versions": versions}).encode("utf-8")


def dumps(obj: Any, protocol: int = None) -> bytes:
    """``cloudpickle.dumps(obj)``, with the file name of every code object pickled by value kept."""
    global _PICKLER
    if _PICKLER is None:
        _PICKLER = _pickler_class()
    with io.BytesIO() as file:
        _PICKLER(file, protocol=protocol).dump(obj)
        return file.getvalue()
