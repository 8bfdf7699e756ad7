"""LUME-services' module of ``Result``: the names it held, re-exported from where they live.

``Result`` and the document helpers are defined in :mod:`lume_services.results.result`;
type strings naming ``lume_services.results.generic:Result`` (or the dotted
``lume_services.results.generic.Result``) load through this module.
"""

from datetime import datetime
from typing import Union

from lume_services.results.result import Result, get_bson_dict, load_db_dict


def round_datetime_to_milliseconds(time: Union[datetime, str]) -> Union[datetime, str]:
    """Return a datetime as ISO text to the millisecond, as MongoDB keeps it; text is returned as is.

    LUME-services rounded a result's ``date_modified`` this way so that a
    result read back from MongoDB equals the one stored.

    Args:
        time: a datetime, or its ISO text.
    """
    if isinstance(time, datetime):
        return time.isoformat(timespec="milliseconds")
    return time


__all__ = ["Result", "get_bson_dict", "load_db_dict", "round_datetime_to_milliseconds"]
