"""The results database interface every implementation follows."""

from abc import ABC, abstractmethod
from typing import List, Optional, Sequence, Union

from pydantic import BaseModel


class ResultsDBConfig(BaseModel):
    """The base of results database settings (LUME-services' name).

    :class:`~lume_services.services.results.mongodb.MongodbResultsDBConfig`
    derives from it; the embedded SQLite database is configured by ``LUME_HOME``.
    """


class ResultsDB(ABC):
    """Stores result documents in named collections (one per project).

    The contract every implementation keeps, checked by the same tests:

    - Documents are dicts of JSON data (str, numbers, booleans, None, lists,
      dicts); values :func:`~lume_services.services.results.encoding.json_default`
      encodes (numpy arrays, datetimes, pydantic types) are stored as that JSON
      data. Anything but a dict raises
      :class:`~lume_services.errors.InvalidDocumentError`.
    - A document with a ``unique_hash`` field is unique in its collection:
      inserting one whose hash is already stored writes nothing and returns the
      id of the stored document (inserting is idempotent). Documents without
      ``unique_hash`` are always inserted.
    - Queries are equality on dotted paths with the meaning described in
      :mod:`lume_services.services.results.query`; anything else raises
      :class:`~lume_services.errors.UnsupportedQueryError`.
    - Documents come back as their JSON data, without database ids, in insertion order.
    - :meth:`create_index` makes queries on the indexed fields faster and never
      changes what they return.
    """

    @abstractmethod
    def insert_one(self, collection: str, document: dict) -> str:
        """Insert a document; idempotent on ``unique_hash``.

        Args:
            collection: the collection (a result's project name).
            document: the document.

        Returns:
            The id of the stored document (the existing one for a known hash).
        """

    @abstractmethod
    def insert_many(self, collection: str, documents: List[dict]) -> List[str]:
        """Insert documents, each as :meth:`insert_one` would.

        Args:
            collection: the collection.
            documents: the documents.

        Returns:
            The id of each document, in order.
        """

    @abstractmethod
    def create_index(self, collection: str, fields: Union[str, Sequence[str]]) -> None:
        """Index dotted fields of the collection's documents for equality queries on them.

        Creating an index that exists does nothing.

        Args:
            collection: the collection.
            fields: a dotted path (``"inputs.energy"``), or several for one
                compound index (serving queries on all of them, or on the first ones).

        Raises:
            InvalidIndexError: no field is given, or one is not a dotted path.
        """

    @abstractmethod
    def find(self, collection: str, query: Optional[dict] = None) -> List[dict]:
        """Return the documents of the collection that match the query.

        Args:
            collection: the collection.
            query: dotted paths mapped to the values they must equal; ``None``
                or ``{}`` matches every document.

        Returns:
            The matching documents, in insertion order.

        Raises:
            UnsupportedQueryError: the query is not equality on dotted paths.
        """

    def find_all(self, collection: str) -> List[dict]:
        """Return every document of the collection, in insertion order."""
        return self.find(collection, {})

    def count(self, collection: str) -> int:
        """Return how many documents the collection holds."""
        return len(self.find_all(collection))
