"""The errors of results and of the results database (SQLite or MongoDB)."""

from typing import Iterable, Optional

from lume_services.errors._base import LUMEServicesError, _names


class ResultsError(LUMEServicesError):
    """Base class of the errors of results and of the results database: a query,
    index or document it does not take (:class:`UnsupportedQueryError`,
    :class:`InvalidIndexError`, :class:`InvalidDocumentError`), a MongoDB that
    does not answer (:class:`ResultsDBUnreachableError`), no result or several
    where one was asked (:class:`ResultNotFoundError`,
    :class:`MultipleResultsFoundError`), a reference or result type that is not
    one (:class:`InvalidResultReferenceError`, :class:`UnknownResultTypeError`), a
    result without the attribute or key a db mapping reads
    (:class:`ResultAttributeError`, :class:`ResultKeyError`), an Impact result
    that cannot be loaded as an Impact object (:class:`ImpactNotAvailableError`).

    A results database file that is not trusted or cannot be used is a
    :class:`StorageError`.
    """


class UnsupportedQueryError(ResultsError):
    """A results-database query uses something beyond equality on dotted paths.

    Args:
        query: the query given.
        reason: what is not supported.
    """

    def __init__(self, query: object, reason: str):
        self.query = query
        super().__init__(
            f"unsupported results query {query!r}: {reason}; queries map dotted field "
            "paths to the values they must equal, e.g. {'outputs.cube': 27}"
        )


class InvalidIndexError(ResultsError):
    """An index asked of the results database names no field it can index.

    Args:
        fields: the fields given.
        reason: what is wrong with them.
    """

    def __init__(self, fields: object, reason: str):
        self.fields = fields
        super().__init__(
            f"cannot index results on {fields!r}: {reason}; an index is given as a dotted "
            "field path or a list of them, e.g. 'inputs.energy' or ['flow_id', 'outputs.cube']"
        )


class InvalidDocumentError(ResultsError, TypeError):
    """A document given to the results database is not a dict.

    Args:
        document: the value given.
    """

    def __init__(self, document: object):
        self.document = document
        super().__init__(
            f"a results document is a dict of JSON data, not a {type(document).__name__}: "
            f"{document!r:.200}; store a result with Result.insert() or pass a dict"
        )


class UnknownResultTypeError(ResultsError):
    """A stored result names a result type that cannot be imported or is not a ``Result``.

    Args:
        result_type_string: the ``"module:ClassName"`` string.
        reason: why it cannot be used.
    """

    def __init__(self, result_type_string: object, reason: str):
        self.result_type_string = result_type_string
        super().__init__(
            f"result type {result_type_string!r} cannot be used: {reason}; a result "
            "type is given as 'module:ClassName' of a subclass of "
            "lume_services.results.Result, importable where the result is loaded"
        )


class ResultsDBUnreachableError(ResultsError):
    """The MongoDB server that stores results did not answer in time.

    Args:
        host: the configured host (a URI's password masked).
        port: the configured port.
        database: the configured database.
        timeout: the seconds the client waited for a server.
        reason: what pymongo reported.
    """

    def __init__(self, host: str, port: int, database: str, timeout: float, reason: str):
        self.host = host
        self.port = port
        self.database = database
        self.timeout = timeout
        self.reason = reason
        super().__init__(
            f"no MongoDB server answered at {host}:{port} (database {database!r}) within "
            f"{timeout:g} s: {reason}; start it, or check LUME_RESULTS_DB__MONGODB__HOST, "
            "LUME_RESULTS_DB__MONGODB__PORT, LUME_RESULTS_DB__MONGODB__USERNAME/PASSWORD and "
            "LUME_RESULTS_DB__MONGODB__OPTIONS (serverSelectionTimeoutMS sets how long to wait)"
        )


class ResultNotFoundError(ResultsError):
    """No stored result matches the query.

    Args:
        project_name: the collection searched.
        query: the query.
        stored: how many results the collection holds.
    """

    def __init__(self, project_name: str, query: Optional[dict], stored: int):
        self.project_name = project_name
        self.query = query
        self.stored = stored
        super().__init__(
            f"no result of project {project_name!r} matches {query!r} "
            f"({stored} result(s) stored in {project_name!r})"
        )


class MultipleResultsFoundError(ResultsError):
    """A query meant to load one result matches several.

    Args:
        project_name: the collection searched.
        query: the query.
        count: how many results match.
    """

    def __init__(self, project_name: str, query: Optional[dict], count: int):
        self.project_name = project_name
        self.query = query
        self.count = count
        super().__init__(
            f"{count} results of project {project_name!r} match {query!r}; loading one "
            "needs a query that identifies it, such as {'unique_hash': ...} "
            "(see Result.unique_rep())"
        )


class InvalidResultReferenceError(ResultsError):
    """A value given as a result reference is not one.

    Args:
        reference: the value given.
        reason: what is wrong with it.
    """

    def __init__(self, reference: object, reason: str):
        self.reference = reference
        super().__init__(
            f"not a result reference ({reason}): {reference!r}; a result reference is "
            "the dict returned by Result.unique_rep() or the SaveDBResult task, with "
            "keys 'project_name', 'result_type_string' and 'query'"
        )


class ResultAttributeError(ResultsError):
    """A result has no attribute of the name asked for.

    Args:
        result_type: the result's class name.
        attribute: the name asked for.
        available: the result's attributes.
    """

    def __init__(self, result_type: str, attribute: str, available: Iterable[str]):
        self.result_type = result_type
        self.attribute = attribute
        self.available = sorted(available)
        super().__init__(
            f"result of type {result_type!r} has no attribute {attribute!r}; "
            f"attributes: {_names(self.available)}"
        )


class ResultKeyError(ResultsError):
    """An ``attribute_index`` key is missing from the value it indexes.

    Args:
        path: where the key was looked up, e.g. ``outputs['a']``.
        key: the missing key.
        available: the keys (or indices) that exist there.
    """

    def __init__(self, path: str, key: object, available: Iterable[object]):
        self.path = path
        self.key = key
        self.available = list(available)
        super().__init__(
            f"{path} has no key {key!r}; keys of {path}: {_names(self.available)}"
        )


class ImpactNotAvailableError(ResultsError, ImportError):
    """Loading an Impact archive as a lume-impact object needs lume-impact, which is not installed.

    lume-impact cannot be installed beside pydantic 1, which this package
    (through Prefect 1) needs.
    """

    def __init__(self, archive: str):
        self.archive = archive
        super().__init__(
            f"loading the Impact archive {archive!r} as an Impact object needs lume-impact, "
            "which cannot be installed beside lume-services (Prefect 1 needs pydantic 1, "
            "lume-impact cannot use it); read its data with result.archive.read() (an HDF5File), or "
            "load it with lume-impact in another environment"
        )
