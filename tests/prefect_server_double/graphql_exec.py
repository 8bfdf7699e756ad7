"""A small GraphQL executor for the protocol double: graphql-core parses, we resolve.

Prefect 1's client speaks Hasura-flavoured GraphQL: list fields take ``where``
(with ``_eq``, ``_in``, ``_and``, ``_or``, relationship filters ...),
``order_by``, ``limit``, ``offset`` and ``distinct_on``. Writing a typed
schema for every input type the client sends would be larger than the double
itself, so requests are parsed with graphql-core and executed over plain dicts:

- a root field is handed to a resolver (``resolvers[(operation, field)]``);
- a value in a row that is callable is a relationship, called with the field's
  arguments;
- every list of rows honours the Hasura list arguments;
- a field that a row does not have is an error naming it, so a request the
  double does not implement fails loudly instead of returning nothing.
"""

from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple

from graphql import parse
from graphql.language import FieldNode, OperationDefinitionNode
from graphql.utilities import value_from_ast_untyped


class GraphQLRequestError(Exception):
    """An error reported to the client in the response's ``errors`` list.

    Args:
        message: the error message.
        code: the ``extensions.code`` Prefect's client reacts to (for example
            ``VERSION_LOCKING_ERROR``).
    """

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code


Resolver = Callable[[Dict[str, Any]], Any]


def execute(
    resolvers: Dict[Tuple[str, str], Resolver], query: str, variables: Any = None
) -> Dict[str, Any]:
    """Execute one GraphQL request and return the response body.

    Args:
        resolvers: ``(operation type, root field name) -> resolver(args)``.
        query: the GraphQL document.
        variables: the variables, as a dict or as the JSON *string* Prefect's
            client sends.

    Returns:
        ``{"data": ...}`` or ``{"data": None, "errors": [...]}``.
    """
    import json

    if isinstance(variables, str):
        variables = json.loads(variables) if variables else None
    variables = variables or {}
    try:
        document = parse(query)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            raise GraphQLRequestError("the double executes exactly one operation per request")
        operation = operations[0]
        kind = operation.operation.value  # "query" or "mutation"
        data = {}
        for field in operation.selection_set.selections:
            if not isinstance(field, FieldNode):
                raise GraphQLRequestError("fragments are not supported by the double")
            name = field.name.value
            resolver = resolvers.get((kind, name))
            if resolver is None:
                raise GraphQLRequestError(f"the protocol double does not implement {kind} {name!r}")
            args = _arguments(field, variables)
            value = resolver(args)
            if isinstance(value, list):
                value = apply_list_arguments(value, args)
            data[_key(field)] = _project(value, field, variables, path=name)
        return {"data": data}
    except GraphQLRequestError as exc:
        error: Dict[str, Any] = {"message": exc.message}
        if exc.code:
            error["extensions"] = {"code": exc.code}
        return {"data": None, "errors": [error]}


def _key(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


def _arguments(field: FieldNode, variables: Dict[str, Any]) -> Dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value, variables) for a in field.arguments or ()}


def _project(value: Any, field: FieldNode, variables: Dict[str, Any], path: str) -> Any:
    if field.selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [_project(item, field, variables, path) for item in value]
    if not isinstance(value, dict):
        raise GraphQLRequestError(f"field {path!r} has no sub-fields")
    out = {}
    for sub in field.selection_set.selections:
        if not isinstance(sub, FieldNode):
            raise GraphQLRequestError("fragments are not supported by the double")
        name = sub.name.value
        if name == "__typename":
            out[_key(sub)] = path
            continue
        if name not in value:
            raise GraphQLRequestError(
                f"the protocol double has no field {name!r} on {path!r}; known fields: "
                f"{', '.join(sorted(value))}"
            )
        args = _arguments(sub, variables)
        item = value[name]
        if callable(item):
            item = item(args)
        if isinstance(item, list):
            item = apply_list_arguments(item, args)
        out[_key(sub)] = _project(item, sub, variables, f"{path}.{name}")
    return out


# --- Hasura list arguments -----------------------------------------------------


def apply_list_arguments(rows: List[dict], args: Dict[str, Any]) -> List[dict]:
    """Filter, order, de-duplicate and page ``rows`` as Hasura would."""
    where = args.get("where")
    if where:
        rows = [r for r in rows if isinstance(r, dict) and matches(r, where)]
    order_by = args.get("order_by")
    if order_by:
        clauses = order_by if isinstance(order_by, list) else [order_by]
        for clause in reversed(clauses):
            for column, direction in reversed(list(clause.items())):
                present = [r for r in rows if _column(r, column) is not None]
                missing = [r for r in rows if _column(r, column) is None]
                present.sort(
                    key=lambda r: _comparable(_column(r, column)),
                    reverse=str(direction).startswith("desc"),
                )
                rows = present + missing
    distinct_on = args.get("distinct_on")
    if distinct_on:
        columns = distinct_on if isinstance(distinct_on, list) else [distinct_on]
        seen, unique = set(), []
        for r in rows:
            key = tuple(repr(_column(r, c)) for c in columns)
            if key not in seen:
                seen.add(key)
                unique.append(r)
        rows = unique
    offset = args.get("offset") or 0
    rows = rows[offset:]
    if args.get("limit") is not None:
        rows = rows[: args["limit"]]
    return rows


def _column(row: dict, name: str) -> Any:
    value = row.get(name)
    return value({}) if callable(value) else value


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
    return value


def matches(row: dict, where: Dict[str, Any]) -> bool:
    """Whether ``row`` satisfies a Hasura boolean expression."""
    for key, condition in where.items():
        if key == "_and":
            if not all(matches(row, c) for c in condition):
                return False
        elif key == "_or":
            if not any(matches(row, c) for c in condition):
                return False
        elif key == "_not":
            if matches(row, condition):
                return False
        else:
            if key not in row:
                raise GraphQLRequestError(f"the protocol double cannot filter on {key!r}")
            value = row[key]
            if callable(value):  # relationship: object, or array (any element matches)
                related = value({})
                if isinstance(related, list):
                    if not any(matches(r, condition) for r in related):
                        return False
                elif related is None:
                    if condition != {"_is_null": True} and not _only_null_checks(condition):
                        return False
                elif not matches(related, condition):
                    return False
            elif not _compare(value, condition):
                return False
    return True


def _only_null_checks(condition: dict) -> bool:
    return all(isinstance(c, dict) and c.get("_is_null") is True for c in condition.values())


def _compare(value: Any, condition: Dict[str, Any]) -> bool:
    for op, operand in condition.items():
        if op == "_eq":
            ok = value == operand
        elif op == "_neq":
            ok = value != operand
        elif op == "_in":
            ok = value in operand
        elif op == "_nin":
            ok = value not in operand
        elif op == "_is_null":
            ok = (value is None) == bool(operand)
        elif op in ("_gt", "_gte", "_lt", "_lte"):
            if value is None:
                return False
            a, b = _comparable(value), _comparable(operand)
            ok = {"_gt": a > b, "_gte": a >= b, "_lt": a < b, "_lte": a <= b}[op]
        elif op == "_contains":
            ok = isinstance(value, (list, dict)) and all(
                item in value for item in (operand if isinstance(operand, list) else [operand])
            )
        else:
            raise GraphQLRequestError(f"the protocol double does not implement operator {op!r}")
        if not ok:
            return False
    return True
