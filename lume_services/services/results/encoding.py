"""How documents become JSON data: the one encoding every results database uses.

A document may hold values ``json`` cannot encode by itself: pydantic's types
(datetimes, UUIDs, enums, models), numpy arrays and scalars, pandas
DataFrames. They are stored as the JSON data :func:`json_default` gives (ISO
text, lists, numbers, a DataFrame's columns as ``{column: [values]}``), so a
document comes back from every database as the same JSON data.
"""

import json
from datetime import datetime
from typing import Any, Callable

from pydantic.json import pydantic_encoder

from lume_services.errors import InvalidDocumentError


def json_default(obj: Any) -> Any:
    """Encode what ``json`` cannot: pydantic's types; numpy arrays and scalars as lists, numbers;
    a pandas DataFrame as its columns, ``{column: [values]}``.

    Raises:
        TypeError: the value is none of these.
    """
    if isinstance(obj, datetime):  # in every result (date_modified): skip pydantic's lookup
        return obj.isoformat()
    try:
        return pydantic_encoder(obj)
    except TypeError:
        if hasattr(obj, "tolist"):  # numpy arrays and scalars (and pandas Series), without importing them
            return obj.tolist()
        if hasattr(obj, "columns") and hasattr(obj, "to_dict"):  # a pandas DataFrame, without importing pandas
            return {str(column): values for column, values in obj.to_dict(orient="list").items()}
        raise


def check_document(document: Any) -> dict:
    """Return the document if it is a dict.

    Raises:
        InvalidDocumentError: it is not.
    """
    if not isinstance(document, dict):
        raise InvalidDocumentError(document)
    return document


def json_data(document: dict) -> dict:
    """Return the document as plain JSON data (for databases that store objects, not text)."""
    return json.loads(json.dumps(check_document(document), default=json_default))


class EncodedDocument(dict):
    """A document that carries its JSON text, encoded once by the one who built it.

    :meth:`Result.insert <lume_services.results.result.Result.insert>` and
    ``insert_many`` give their documents in this form: the JSON of the result's
    identity, which gives its ``unique_hash``, is the part of ``text`` that holds
    those fields, so the fields are encoded once. A database that stores text
    stores ``text`` (after its own checks); one that stores objects reads the
    dict, which holds the same data. Build a new one rather than change one:
    ``text`` is not updated when the dict is.

    Built as a dict (``EncodedDocument(document)``, dict's own constructor: this
    is built for every result of a batch), then given its ``text``.

    Attributes:
        text: the document as JSON text (``json``'s encoding with
            :func:`json_default`), of finite numbers only.
    """

    __slots__ = ("text",)
    text: str

    def __reduce__(self):
        # a pickled copy is a plain document: the text is derived data
        return (dict, (dict(self),))


def encoder_function(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """Return ``encoder.encode`` as a function that builds the C encoder once, not per call.

    ``JSONEncoder.encode`` builds a new C encoder at each call, about a
    microsecond: a tenth of the time of inserting a result in a batch. The
    function gives the same text; it skips the check for circular references
    (such a value raises ``RecursionError`` instead of ``ValueError``). Without
    the C accelerator (another Python implementation) it is ``encoder.encode``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.indent is not None:
        return encoder.encode
    basestring = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    iterencode = make(
        None, encoder.default, basestring, None, encoder.key_separator, encoder.item_separator,
        encoder.sort_keys, encoder.skipkeys, encoder.allow_nan,
    )

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode
