"""LUME-services' module of ``Result``: the names it held, re-exported from where they live.

``Result`` and the document helpers are defined in :mod:`lume_services.results.result`;
type strings naming ``lume_services.results.generic:Result`` (or the dotted
``lume_services.results.generic.Result``) load through this module.
"""

from lume_services.results.result import Result, get_bson_dict, load_db_dict

__all__ = ["Result", "get_bson_dict", "load_db_dict"]
