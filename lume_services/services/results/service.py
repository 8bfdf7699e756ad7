"""The results database service: what results use to store and find themselves."""

from typing import Any, Dict, List, Optional, Sequence, Union

from lume_services.services.results.db import ResultsDB


class ResultsDBService:
    """Stores and finds result documents in the configured results database.

    Args:
        results_db: the database (embedded SQLite by default, or MongoDB).
    """

    def __init__(self, results_db: ResultsDB):
        self.results_db = results_db

    def __repr__(self) -> str:
        return f"ResultsDBService({self.results_db!r})"

    @property
    def _results_db(self) -> ResultsDB:
        """LUME-services' name of :attr:`results_db` (its test fixtures read it)."""
        return self.results_db

    def insert_one(self, collection: Union[str, Dict[str, Any]], document: Optional[dict] = None) -> str:
        """Insert a document; a known ``unique_hash`` writes nothing.

        LUME-services' form, one item holding its ``collection``
        (``insert_one(result.jsonable_dict())``), is accepted too.

        Args:
            collection: the collection (a result's project name); or the item.
            document: the document.

        Returns:
            The id of the stored document (the existing one for a known hash).
        """
        if document is None and isinstance(collection, dict):
            document = dict(collection)
            collection = document.pop("collection")
        return self.results_db.insert_one(collection, document)

    def insert_many(self, collection: str, documents: List[dict]) -> List[str]:
        """Insert documents at once, each as :meth:`insert_one` would.

        A document whose ``unique_hash`` is stored already, or comes earlier in
        ``documents``, writes nothing and gets the stored document's id.

        Args:
            collection: the collection (a result's project name).
            documents: the documents.

        Returns:
            The id of each document, in order.
        """
        return self.results_db.insert_many(collection, documents)

    def create_index(self, collection: str, fields: Union[str, Sequence[str]]) -> None:
        """Index dotted fields for equality queries on them (see ``ResultsDB.create_index``).

        Args:
            collection: the collection (a result's project name).
            fields: a dotted path, or several for one compound index.

        Raises:
            InvalidIndexError: a field is not a dotted path (or, on the embedded
                database, has a key SQL cannot address).
        """
        self.results_db.create_index(collection, fields)

    def find(self, collection: str, query: Optional[dict] = None, fields: Optional[List[str]] = None) -> List[dict]:
        """Return the documents matching the query (equality on dotted paths).

        Args:
            collection: the collection (a result's project name).
            query: dotted paths mapped to the values they must equal; numpy
                values are compared as stored (lists and numbers).
            fields: return only these top-level fields of each document (LUME-services' projection).

        Raises:
            UnsupportedQueryError: the query is not equality on dotted paths.
        """
        documents = self.results_db.find(collection, query)
        if fields is None:
            return documents
        return [{name: doc[name] for name in fields if name in doc} for doc in documents]

    def find_all(self, collection: str) -> List[dict]:
        """Return every document of the collection."""
        return self.results_db.find_all(collection)

    def count(self, collection: str) -> int:
        """Return how many documents the collection holds."""
        return self.results_db.count(collection)
