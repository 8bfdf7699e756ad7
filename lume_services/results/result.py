"""Results: the inputs and outputs of a flow run, stored in the results database."""

import gc
import hashlib
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple, Type, Union, cast

from dependency_injector.wiring import Provide
from pydantic import BaseModel, Field, root_validator

from lume_services.composition import Context, inject
from lume_services.files.file import File, file_from_reference
from lume_services.type_strings import import_type_string, parse_reference, type_string
from lume_services.errors import (
    InvalidResultReferenceError,
    MultipleResultsFoundError,
    ResultNotFoundError,
    UnknownResultTypeError,
)
from lume_services.services.results.encoding import EncodedDocument, encoder_function, json_data, json_default

if TYPE_CHECKING:
    from lume_services.services.results.service import ResultsDBService

#: The keys of a result reference (:meth:`Result.unique_rep`); LUME-services'
#: first references had no ``project_name`` (the type's collection is used).
REFERENCE_KEYS = ("result_type_string", "query")

#: one encoder of identities, reused (``json.dumps`` with options builds one per call)
_IDENTITY_ENCODER = json.JSONEncoder(sort_keys=True, default=json_default)
#: the same encoding, without building a C encoder per call (the identity of each inserted result)
#: (finite numbers only: with NaN or an infinity, the document is encoded apart, see Result._encoded_document)
_encode_identity = encoder_function(json.JSONEncoder(sort_keys=True, default=json_default, allow_nan=False))
#: a document's fields outside its identity, compact
_encode_fields = encoder_function(json.JSONEncoder(separators=(",", ":"), default=json_default, allow_nan=False))
#: the types of field values that are neither files nor datetimes
_PLAIN_TYPES = frozenset((str, int, float, bool, type(None), dict, list))
#: whether a result type's documents are encoded once (see Result._encoded_document), by type
_ENCODES_ONCE: Dict[type, bool] = {}
#: no value was read from the Prefect context yet
_UNREAD = object()

#: names LUME-services gave the project (collection) field
_PROJECT_ALIASES = ("collection", "model_type")


def _flow_id_from_context() -> Optional[str]:
    """The id of the flow being run, when called inside a Prefect flow run."""
    import sys

    prefect = sys.modules.get("prefect")  # outside a flow run there is nothing to read
    if prefect is None:
        return None
    # a local run puts the registered flow's id under lume_flow_id (Prefect puts the name in flow_id)
    flow_id = prefect.context.get("lume_flow_id") or prefect.context.get("flow_id")
    return None if flow_id is None else str(flow_id)


def _project_from_context() -> Optional[str]:
    """The project of the flow being run, when Prefect's context names one (server runs)."""
    import sys

    prefect = sys.modules.get("prefect")
    return None if prefect is None else prefect.context.get("project_name")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Result(BaseModel):
    """The inputs and outputs of a flow run, stored in the project's collection.

    Subclass it for a result type of your own (extra fields, other identity);
    a stored result loads back as the class that stored it, which must be
    importable where it is loaded.

    Identity: ``unique_hash`` is a hash of the fields named in ``unique_on``
    (by default ``inputs`` and ``outputs``) and of the result type. Inserting a
    result whose hash is already stored writes nothing and returns the stored
    result's id: inserting is idempotent, so re-running a flow on the same
    inputs does not duplicate its results.

    LUME-services' names are accepted: ``collection=`` and ``model_type=`` give
    the project (read back as :attr:`model_type`); without one, the project of
    the Prefect flow run is used, else the type's default (``generic`` for
    ``Result``, as LUME-services' default collection).

    Attributes:
        project_name: the project; results are stored in a collection of this name.
        inputs: the run's inputs (JSON data).
        outputs: the run's outputs (JSON data).
        flow_id: the flow that produced it; taken from the Prefect context when
            created or inserted inside a flow run. On a server that is the flow's
            id; in a local run Prefect sets it to the flow's name (for a flow of
            flows, the composed flow's name).
        date_modified: when it was created (UTC).
        unique_on: the fields that define its identity.
        unique_hash: the SHA-256 of those fields; set automatically.
        result_type_string: ``"module:ClassName"`` of its type; set automatically.
    """

    project_name: str = "generic"
    inputs: Dict[str, Any] = {}
    outputs: Dict[str, Any] = {}
    flow_id: Optional[str] = Field(default_factory=_flow_id_from_context)
    date_modified: datetime = Field(default_factory=_now)
    unique_on: List[str] = ["inputs", "outputs"]
    unique_hash: str = ""
    result_type_string: str = ""

    @root_validator(pre=True)
    @classmethod
    def accept_lume_services_names(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        """Read the project from ``collection`` / ``model_type``, or from the flow run."""
        values = dict(values)
        for alias in _PROJECT_ALIASES:
            if alias in values:
                given = values.pop(alias)
                values.setdefault("project_name", given)
        if "project_name" not in values:
            project = _project_from_context()
            if project:
                values["project_name"] = project
        return values

    @property
    def model_type(self) -> str:
        """LUME-services' name of :attr:`project_name` (its ``collection``)."""
        return self.project_name

    @root_validator(skip_on_failure=True)
    @classmethod
    def set_identity(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        """Set the result type and the unique hash from the other fields."""
        values["result_type_string"] = type_string(cls)
        values["unique_hash"] = cls._hash(values)
        return values

    @classmethod
    def _hash(cls, values: dict) -> str:
        unknown = [name for name in values["unique_on"] if name not in cls.__fields__]
        if unknown:
            raise ValueError(
                f"unique_on names {unknown} which are not fields of {cls.__name__}; "
                f"fields: {sorted(cls.__fields__)}"
            )
        identity = {name: values.get(name) for name in values["unique_on"]}
        identity["result_type_string"] = values["result_type_string"]
        text = _IDENTITY_ENCODER.encode(identity)  # the text json.dumps(sort_keys=True) gives
        return hashlib.sha256(text.encode()).hexdigest()

    def get_unique_hash(self) -> str:
        """Return the unique hash of the current field values."""
        return self._hash({**self.__dict__, "result_type_string": self.result_type_string})

    def unique_rep(self) -> Dict[str, Any]:
        """Return the result's reference: JSON data from which any process loads it.

        Returns:
            ``{"project_name": ..., "result_type_string": ..., "query": {"unique_hash": ...}}``
        """
        return {
            "project_name": self.project_name,
            "result_type_string": self.result_type_string,
            "query": {"unique_hash": self.get_unique_hash()},
        }

    def document(self) -> Dict[str, Any]:
        """Return the result as the JSON document stored in the results database.

        numpy arrays and scalars in the fields are stored as lists and numbers,
        files as their references.
        """
        return json_data(self._fields())

    def jsonable_dict(self) -> Dict[str, Any]:
        """LUME-services' item form: the document with its ``collection``.

        ``ResultsDBService.insert_one(result.jsonable_dict())`` stores it, as in LUME-services.
        """
        return {"collection": self.project_name, **self.document()}

    #: LUME-services' later name of :meth:`jsonable_dict`
    get_db_dict = jsonable_dict

    def json(self, **kwargs: Any) -> str:
        """The result as JSON text; numpy values and DataFrames are encoded as in the database.

        ``Result.parse_raw(result.json())`` gives the result back (arrays as lists).
        """
        kwargs.setdefault("encoder", json_default)
        return super().json(**kwargs)

    def get_unique_result_index(self) -> Dict[str, Any]:
        """The values of the fields that define the result's identity (``unique_on``)."""
        return {name: getattr(self, name) for name in self.unique_on}

    def _fields(self) -> Dict[str, Any]:
        # the field values as they are (pydantic's own exclusions applied): the
        # database encodes them once, without .dict()'s deep copy or a JSON round trip
        items: Iterable[Tuple[str, Any]]
        if self.__exclude_fields__ is None and self.__include_fields__ is None:
            items = self.__dict__.items()  # what _iter gives then, without its generator (per result of a batch)
        else:
            items = self._iter(to_dict=False)
        return {name: value.jsonable_dict() if isinstance(value, File) else value for name, value in items}

    def _prepare_insert(self, context_flow_id: Any = _UNREAD) -> Dict[str, Any]:
        if self.flow_id is None:
            flow_id = _flow_id_from_context() if context_flow_id is _UNREAD else context_flow_id
            if flow_id is not None:
                self.flow_id = flow_id
        # the fields may have changed since the result was created: hash them again
        document = self._encoded_document()
        if document is not None:
            return document
        self.unique_hash = self.get_unique_hash()
        return self._fields()

    def _encoded_document(self) -> Optional[EncodedDocument]:
        """Set the unique hash from the current field values; return the document with its JSON text.

        The identity is encoded once: its canonical text (what :meth:`get_unique_hash`
        hashes: sorted keys, ``json``'s default separators) gives the hash and is the
        part of the document's text that holds those fields; the other fields are
        encoded apart, compact, and the two objects' texts are joined. So the stored
        text holds the identity fields with their keys sorted; the data is the same.

        Returns ``None`` where the identity's encoding differs from the document's
        (excluded fields, a ``File`` in the identity, ``unique_hash`` in ``unique_on``,
        a field name that is not a field, a model that validates or refuses
        assignments) or where the database decides how to store the text (NaN or
        infinities): :meth:`_prepare_insert` then hashes and builds the document
        apart, as before. The hash is the same either way.
        """
        cls = type(self)
        encodes_once = _ENCODES_ONCE.get(cls)
        if encodes_once is None:
            config = cls.__config__
            encodes_once = _ENCODES_ONCE[cls] = not (
                cls.__exclude_fields__ is not None
                or cls.__include_fields__ is not None
                or config.validate_assignment
                or not config.allow_mutation
                or config.frozen
            )
        if not encodes_once:
            return None
        values = self.__dict__
        fields = cls.__fields__
        identity = {}
        for name in values["unique_on"]:
            if name not in fields or name == "unique_hash":
                return None
            value = values[name]
            if type(value) not in _PLAIN_TYPES and isinstance(value, File):  # hashed as a model, stored as its reference
                return None
            identity[name] = value
        identity["result_type_string"] = values["result_type_string"]
        try:
            identity_text = _encode_identity(identity)
        except (ValueError, RecursionError):  # NaN or an infinity; a circular value (json's ValueError below)
            return None
        # what pydantic's __setattr__ does when assignments are neither validated nor refused
        values["unique_hash"] = hashlib.sha256(identity_text.encode()).hexdigest()
        self.__fields_set__.add("unique_hash")
        document = EncodedDocument(values)
        others = values.copy()
        for name in identity:
            del others[name]
        for name, value in others.items():
            if type(value) not in _PLAIN_TYPES:  # (isinstance of a model class is slow: a field's value is rarely one)
                if isinstance(value, datetime):
                    others[name] = value.isoformat()  # as json_default gives it, without a call back from the encoder
                elif isinstance(value, File):
                    others[name] = document[name] = value.jsonable_dict()
        try:
            others_text = _encode_fields(others)
        except (ValueError, RecursionError):
            return None
        # others holds unique_hash at least: its text ends with "}" after one field or more
        document.text = others_text[:-1] + "," + identity_text[1:]
        return document

    @inject
    def insert(
        self,
        results_db_service: "ResultsDBService" = Provide[Context.results_db_service],
    ) -> str:
        """Store the result in its project's collection.

        Idempotent: when a result with the same ``unique_hash`` is stored
        already, nothing is written and that result's id is returned.
        Inside a flow run, a missing ``flow_id`` is taken from the Prefect context.
        The hash is computed once, of the current field values, and the result
        is serialised once, by the database.

        Args:
            results_db_service: the results service; injected when omitted.

        Returns:
            The id of the stored result.
        """
        return results_db_service.insert_one(self.project_name, self._prepare_insert())

    @classmethod
    @inject
    def insert_many(
        cls,
        results: Iterable["Result"],
        results_db_service: "ResultsDBService" = Provide[Context.results_db_service],
    ) -> List[str]:
        """Store many results at once, each as :meth:`insert` would.

        The results of one project are written in one transaction of the
        embedded database, which makes a batch several times faster than as
        many :meth:`insert` calls. A result whose ``unique_hash`` is stored
        already, or comes earlier in ``results``, writes nothing and gets the
        stored result's id. Results may be of several types and projects.

        Args:
            results: the results.
            results_db_service: the results service; injected when omitted.

        Returns:
            The id of each stored result, in the order of ``results``.
        """
        results = list(results)
        # A few new containers a result (its document, its row) and no cycles: with
        # the collector on, a large batch starts full collections that walk the
        # whole heap (Prefect's included), a sixth of the batch's time. Reference
        # counting frees all of it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return cls._insert_many(results, results_db_service)
        finally:
            if collecting:
                gc.enable()

    @staticmethod
    def _insert_many(results: List["Result"], results_db_service: "ResultsDBService") -> List[str]:
        positions: Dict[str, List[int]] = {}
        documents: Dict[str, List[Dict[str, Any]]] = {}
        context_flow_id = _UNREAD  # read from the Prefect context once for the batch
        project_name = None
        for position, result in enumerate(results):
            if result.flow_id is None and context_flow_id is _UNREAD:
                context_flow_id = _flow_id_from_context()
            if result.project_name != project_name:  # (a batch is mostly of one project)
                project_name = result.project_name
                project_positions = positions.setdefault(project_name, [])
                project_documents = documents.setdefault(project_name, [])
            project_positions.append(position)
            project_documents.append(result._prepare_insert(context_flow_id))
        ids = [""] * len(results)
        if len(documents) == 1:
            ((project_name, project_documents),) = documents.items()
            return results_db_service.insert_many(project_name, project_documents)
        for project_name, project_documents in documents.items():
            stored = results_db_service.insert_many(project_name, project_documents)
            for position, id_ in zip(positions[project_name], stored):
                ids[position] = id_
        return ids

    @classmethod
    @inject
    def load_from_query(
        cls,
        project_name: Union[str, Dict[str, Any]],
        query: Optional[Dict[str, Any]] = None,
        results_db_service: "ResultsDBService" = Provide[Context.results_db_service],
    ) -> "Result":
        """Load the one result of the project that matches the query.

        The result comes back as the type that stored it. As in LUME-services'
        first releases, ``load_from_query(query)`` searches the type's default
        collection (``generic`` for ``Result``).

        Args:
            project_name: the project (collection) to search; or the query.
            query: dotted paths mapped to the values they must equal, e.g.
                ``{"unique_hash": ...}`` or ``{"inputs.x": 3}``.
            results_db_service: the results service; injected when omitted.

        Returns:
            The result.

        Raises:
            ResultNotFoundError: no result matches.
            MultipleResultsFoundError: several results match.
            UnknownResultTypeError: the stored type cannot be imported here.
            UnsupportedQueryError: the query is not equality on dotted paths.
        """
        if query is None and isinstance(project_name, dict):
            collection, query = cls.default_project_name(), project_name
        else:
            collection = cast(str, project_name)
        documents = results_db_service.find(collection, query)
        if not documents:
            raise ResultNotFoundError(collection, query, results_db_service.count(collection))
        if len(documents) > 1:
            raise MultipleResultsFoundError(collection, query, len(documents))
        document = documents[0]
        result_type = get_result_from_string(document.get("result_type_string") or "")
        return result_type.parse_obj(document)

    @classmethod
    def default_project_name(cls) -> str:
        """The project (collection) of results of this type created without one."""
        return cls.__fields__["project_name"].default


def get_result_from_string(result_type_string: str) -> Type[Result]:
    """Import the result type a ``"module:ClassName"`` string names.

    Args:
        result_type_string: e.g. ``"lume_services.results.result:Result"``.

    Returns:
        The ``Result`` subclass (or ``Result`` itself).

    Raises:
        UnknownResultTypeError: the string is malformed, cannot be imported, or
            does not name a ``Result`` subclass.
    """
    return import_type_string(result_type_string, Result, UnknownResultTypeError)


@inject
def load_result(
    result_rep: Union[Dict[str, Any], str],
    results_db_service: "ResultsDBService" = Provide[Context.results_db_service],
) -> Result:
    """Load the result a reference (:meth:`Result.unique_rep`) points to.

    Args:
        result_rep: the reference dict, or its JSON text.
        results_db_service: the results service; injected when omitted.

    Returns:
        The result, as the type that stored it.

    Raises:
        InvalidResultReferenceError: the value is not a result reference.
        ResultNotFoundError: the result is not stored.
        UnknownResultTypeError: its type cannot be imported here.
    """
    result_rep = parse_reference(result_rep, REFERENCE_KEYS, InvalidResultReferenceError)
    if not isinstance(result_rep["query"], dict):
        raise InvalidResultReferenceError(result_rep, "its query is not a dict")
    result_type = get_result_from_string(result_rep["result_type_string"])
    project_name = result_rep.get("project_name") or result_type.default_project_name()
    return result_type.load_from_query(
        project_name, result_rep["query"], results_db_service=results_db_service
    )


def _bson_default(obj: Any) -> Any:
    if isinstance(obj, File):
        return obj.jsonable_dict()
    return json_default(obj)


def get_bson_dict(dictionary: Dict[str, Any]) -> Dict[str, Any]:
    """Return a dict (a query or a document) as the data the results database stores.

    LUME-services' name: there numpy arrays became BSON binaries; here every
    database stores JSON data, so arrays and numpy numbers become lists and
    numbers, pandas DataFrames their columns (``{column: [values]}``), as
    inserts store them, so a query with an array or a DataFrame finds the
    stored one; files become their references.
    """
    return json.loads(json.dumps(dictionary, default=_bson_default))


def load_db_dict(dictionary: Dict[str, Any]) -> Dict[str, Any]:
    """Return a stored document with its file references (dicts with a ``file_type_string``) as files.

    LUME-services' name. Arrays stay lists: JSON data does not say a list was an array.
    """

    def load(value: Any) -> Any:
        if isinstance(value, dict):
            if "file_type_string" in value:
                return file_from_reference(value)
            return {key: load(item) for key, item in value.items()}
        return value

    return load(dictionary)

