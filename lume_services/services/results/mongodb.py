"""Results stored in MongoDB (extra ``lume-services[mongodb]``; pymongo imported on first use)."""

import contextlib
import contextvars
import functools
import importlib
import json
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Union

from pydantic import BaseModel, Field, SecretStr, root_validator, validator

from lume_services.errors import LUMEServicesError, MissingExtraError, ResultsDBUnreachableError
from lume_services.services.results.db import ResultsDB, ResultsDBConfig
from lume_services.services.results.encoding import json_data
from lume_services.services.results.query import validate_index_fields, validate_query


def _import_pymongo(module: str = "pymongo"):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature="MongodbResultsDB", module="pymongo", extra="mongodb") from exc


#: How long the client waits for a server before reporting it unreachable (pymongo's default is 30 s).
SERVER_SELECTION_TIMEOUT_MS = 5000


def _unreachable_as_error(method):
    """Report a MongoDB server that does not answer as ResultsDBUnreachableError, naming the settings."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except LUMEServicesError:
            raise
        except Exception as exc:
            errors = _import_pymongo("pymongo.errors")
            if not isinstance(exc, (errors.ServerSelectionTimeoutError, errors.ConnectionFailure)):
                raise
            from lume_services.masking import mask_uri

            self.close()  # the next use connects anew
            config = self.config
            timeout = self.config.client_kwargs().get("serverSelectionTimeoutMS", 30000) / 1000
            raise ResultsDBUnreachableError(
                mask_uri(config.host), config.port, config.database, timeout, mask_uri(str(exc).split(", Timeout")[0])
            ) from exc

    return guarded


class MongodbResultsDBConfig(ResultsDBConfig):
    """How to reach the MongoDB database that stores results.

    As in LUME-services, the host, port, user and password must be given;
    ``authMechanism`` is accepted as the name of ``auth_mechanism``, whose
    ``"DEFAULT"`` (LUME-services' default) lets pymongo choose as ``None`` does.

    Attributes:
        host: server host (or a ``mongodb://`` URI without credentials).
        port: server port.
        database: database name; each project is a collection in it.
        username: user to authenticate as.
        password: the user's password; never shown in a repr, log line or error.
        auth_mechanism: e.g. ``SCRAM-SHA-256``; ``None`` lets pymongo choose.
        options: further keyword arguments of ``pymongo.MongoClient``.
    """

    host: str
    port: int = Field(..., ge=1, le=65535)
    database: str = "lume_services"
    username: str
    password: SecretStr
    auth_mechanism: Optional[str] = Field(None, alias="authMechanism")
    options: Dict[str, Any] = {}

    class Config:
        allow_population_by_field_name = True

    @root_validator(pre=True)
    def accept_auth_mechanism_from_environment(cls, values):
        """``LUME_RESULTS_DB__AUTHMECHANISM`` arrives lower-cased; read it as ``authMechanism``."""
        if "authmechanism" in values:
            values = dict(values)
            values.setdefault("authMechanism", values.pop("authmechanism"))
        return values

    @validator("auth_mechanism")
    def default_means_pymongos_choice(cls, v):
        """LUME-services' ``"DEFAULT"`` is pymongo's own choice."""
        return None if v == "DEFAULT" else v

    @validator("options", pre=True)
    def options_from_json(cls, v):
        """Accept the options as JSON text (pydantic 1 leaves nested env values as text)."""
        if isinstance(v, str):
            try:
                return json.loads(v)
            except json.JSONDecodeError as exc:
                raise ValueError(f"options must be a JSON object, e.g. '{{\"tls\": true}}': {exc}")
        return v

    def __repr_args__(self):
        # the host may be a URI holding credentials, the options may hold secrets
        from lume_services.masking import mask

        return [(name, mask(value, name)) for name, value in super().__repr_args__()]

    def client_kwargs(self) -> Dict[str, Any]:
        """The keyword arguments of ``pymongo.MongoClient``, credentials included."""
        kwargs: Dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password.get_secret_value(),
        }
        if self.auth_mechanism is not None:
            kwargs["authMechanism"] = self.auth_mechanism
        # an unreachable server answers within seconds, not pymongo's 30
        kwargs["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        kwargs.update(self.options)
        return kwargs


class MongodbCollection(BaseModel):
    """A collection of the results database and its indexes, as :meth:`MongodbResultsDB.configure` reports it.

    Attributes:
        database: the database name.
        name: the collection name.
        indices: pymongo's ``index_information()`` of the collection.
    """

    database: str
    name: str
    indices: Dict[str, Any]


class MongodbResultsDB(ResultsDB):
    """Results stored in MongoDB, one collection per project.

    The client is created on first use, so building the service never
    connects. Each collection gets a unique index on string ``unique_hash`` values,
    which makes inserting idempotent even across processes, and an index on
    ``flow_id``, as the embedded database has.

    Args:
        db_config: the connection settings.
        connect: connect (create the client) now rather than on first use, as
            LUME-services did by default.
    """

    def __init__(self, db_config: MongodbResultsDBConfig, connect: bool = False):
        self.config = db_config
        self._client = None
        self._indexed: Set[str] = set()
        # LUME-services kept the configured collections here (its tests read ``_collections.get()``)
        self._collections: contextvars.ContextVar = contextvars.ContextVar("collections", default={})
        if connect:
            self._connect()

    def __repr__(self) -> str:
        from lume_services.masking import mask_uri

        user = f", username={self.config.username!r}" if self.config.username else ""
        return (
            f"MongodbResultsDB(host={mask_uri(self.config.host)!r}, port={self.config.port}, "
            f"database={self.config.database!r}{user})"
        )

    def __getstate__(self):
        return {"config": self.config}

    def __setstate__(self, state):
        self.__init__(state["config"])

    def _connect(self):
        if self._client is None:
            pymongo = _import_pymongo()
            self._client = pymongo.MongoClient(**self.config.client_kwargs())
        return self._client

    def _collection(self, collection: str):
        self._connect()
        coll = self._client[self.config.database][collection]
        if collection not in self._indexed:
            # unique among string hashes only: like SQLite, documents without a hash
            # (or with None) are never de-duplicated
            coll.create_index(
                "unique_hash",
                unique=True,
                partialFilterExpression={"unique_hash": {"$type": "string"}},
            )
            coll.create_index("flow_id")
            self._indexed.add(collection)
        return coll

    def close(self) -> None:
        """Close the client (a later call opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None
            self._indexed.clear()

    #: LUME-services' name of :meth:`close`
    disconnect = close

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        """Give the ``pymongo.MongoClient`` of this database (LUME-services' context manager).

        The client stays open afterwards; :meth:`close` closes it. What is
        done with it (LUME-services' fixtures drop the database) may remove
        collections and their indexes, so each collection's indexes are made
        again on its next use.
        """
        try:
            yield self._connect()
        finally:
            self._indexed.clear()

    @_unreachable_as_error
    def configure(self, collections: Dict[str, Sequence[str]]) -> Dict[str, MongodbCollection]:
        """Create collections with an index on each one's fields (LUME-services' setup).

        LUME-services made a unique index of each collection's ``unique_on``
        fields (``get_collections()``); here a result's identity is its
        ``unique_hash``, which every collection indexes uniquely on first use,
        so the fields get an ordinary index (queries on them are fast, inserts
        stay idempotent).

        Args:
            collections: collection names mapped to the fields to index.

        Returns:
            Each collection with the indexes it has now; also kept in
            ``_collections`` as LUME-services did.
        """
        configured: Dict[str, MongodbCollection] = {}
        for name, fields in collections.items():
            coll = self._collection(name)
            if fields:
                self.create_index(name, list(fields))
            configured[name] = MongodbCollection(
                database=self.config.database, name=name, indices=coll.index_information()
            )
        self._collections.set({**self._collections.get(), **configured})
        return configured

    @_unreachable_as_error
    def insert_one(self, collection: str, document: dict) -> str:
        """Insert a document; idempotent on ``unique_hash`` (see :class:`ResultsDB`)."""
        errors = _import_pymongo("pymongo.errors")
        coll = self._collection(collection)
        document = json_data(document)  # a copy: pymongo adds _id to what it inserts
        try:
            return str(coll.insert_one(document).inserted_id)
        except errors.DuplicateKeyError:
            existing = coll.find_one({"unique_hash": document["unique_hash"]}, {"_id": 1})
            return str(existing["_id"])

    def insert_many(self, collection: str, documents: List[dict]) -> List[str]:
        """Insert documents one by one, each idempotent on ``unique_hash``."""
        return [self.insert_one(collection, document) for document in documents]

    @_unreachable_as_error
    def create_index(self, collection: str, fields: Union[str, Sequence[str]]) -> None:
        """Index dotted fields of the collection (see :class:`ResultsDB`); ascending keys."""
        fields = validate_index_fields(fields)
        self._collection(collection).create_index([(field, 1) for field in fields])

    @_unreachable_as_error
    def find(self, collection: str, query: Optional[dict] = None) -> List[dict]:
        """Return the matching documents in insertion order (see :class:`ResultsDB`)."""
        query = validate_query(query)
        cursor = self._collection(collection).find(query, {"_id": 0}).sort("$natural", 1)
        return list(cursor)

    @_unreachable_as_error
    def count(self, collection: str) -> int:
        """Return how many documents the collection holds."""
        return self._collection(collection).count_documents({})
