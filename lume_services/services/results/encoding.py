"""How documents become JSON data: the one encoding every results database uses.

A document may hold values ``json`` cannot encode by itself: pydantic's types
(datetimes, UUIDs, enums, models), numpy arrays and scalars, pandas
DataFrames. They are stored as the JSON data :func:`json_default` gives (ISO
text, lists, numbers, a DataFrame's columns as ``{column: [values]}``), so a
document comes back from every database as the same JSON data.
"""

import json
from datetime import datetime
from typing import Any

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
