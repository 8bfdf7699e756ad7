"""Checking the criteria of a model-database query against the table's columns (LUME-services' ``validate_kwargs_exist``)."""

import functools
from typing import Any, Callable, Iterable, List, Optional, TypeVar

from lume_services.errors import UnknownColumnError

F = TypeVar("F", bound=Callable[..., Any])


def column_names(table: Any) -> List[str]:
    """The names a query may use for a table's columns: the columns' and their attributes'.

    ``Deployment``'s ``sha256`` column is the attribute ``sha_256``: both are accepted.
    """
    names = [column.key for column in table.__table__.columns]
    mapper = getattr(table, "__mapper__", None)
    if mapper is not None:
        names += [attr.key for attr in mapper.column_attrs if attr.key not in names]
    return names


def validate_kwargs_exist(table: Any, ignore: Optional[Iterable[str]] = None) -> Callable[[F], F]:
    """Decorate a method whose keyword arguments are column criteria of ``table``.

    Args:
        table: the ORM table class the criteria are checked against.
        ignore: keyword arguments that are not criteria.

    Raises:
        UnknownColumnError: (when the method is called) a keyword names no
            column of the table; a ``ValueError`` too, as in LUME-services.
    """
    ignored = set(ignore or ())

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            allowed = column_names(table)
            unknown = [key for key in kwargs if key not in allowed and key not in ignored]
            if unknown:
                raise UnknownColumnError(table.__tablename__, unknown, allowed)
            return func(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
