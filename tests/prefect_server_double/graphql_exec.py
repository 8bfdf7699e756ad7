"""The double's GraphQL executor: validate against the real server's schema, then resolve.

Every request is parsed and validated with graphql-core against
:data:`.schema.SCHEMA` (the operations Prefect 1.4.1 uses, with their real
argument names, types and required fields, plus apollo's depth limit of 7).
A document that does not parse or validate, or whose variables do not fit their
types, is answered with HTTP 400 and no ``data``, as apollo answers it; Prefect's
client raises that as ``ClientError``. A valid document is executed over the
double's plain-dict rows:

- a root field is handed to a resolver (``resolvers[(operation, field)]``);
- a value in a row that is callable is a relationship, called with the field's
  (already coerced) arguments;
- every list of rows honours the Hasura list arguments (``where``, ``order_by``,
  ``distinct_on``, ``limit``, ``offset``);
- a field the schema has but the double does not keep is an error naming it, so
  a request the double does not implement fails loudly instead of returning nothing.

Errors raised by a resolver come back with HTTP 200 beside ``data``, as the real
server's resolver errors do.
"""

import json
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple

from graphql import GraphQLError, GraphQLList, GraphQLNonNull, GraphQLObjectType, parse
from graphql import execute as graphql_execute
from graphql import get_named_type, specified_rules, validate

from .schema import SCHEMA, DepthLimitRule

_RULES = [*specified_rules, DepthLimitRule]


class GraphQLRequestError(Exception):
    """An error reported to the client in the response's ``errors`` list.

    Args:
        message: the error message (the real server's wording where known).
        code: an ``extensions.code`` for the error, if any.
    """

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code


Resolver = Callable[[Dict[str, Any]], Any]


def execute(
    resolvers: Dict[Tuple[str, str], Resolver], query: str, variables: Any = None
) -> Tuple[int, Dict[str, Any]]:
    """Validate and execute one GraphQL request.

    Args:
        resolvers: ``(operation type, root field name) -> resolver(args)``.
        query: the GraphQL document.
        variables: the variables, as a dict or as the JSON *string* Prefect's
            client sends.

    Returns:
        ``(HTTP status, response body)``: ``400`` with ``{"errors": [...]}`` for
        a document the real server would refuse before running it, else ``200``
        with ``{"data": ...}`` and, if a resolver failed, ``"errors"``.
    """
    try:
        if isinstance(variables, str):
            variables = json.loads(variables) if variables else None
        document = parse(query)
    except (GraphQLError, ValueError) as exc:
        return 400, {"errors": [_format(exc, "GRAPHQL_PARSE_FAILED")]}
    errors = validate(SCHEMA, document, _RULES)
    if errors:
        return 400, {"errors": [_format(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]}

    def resolve(source, info, **args):
        if info.parent_type in (SCHEMA.query_type, SCHEMA.mutation_type):
            kind = info.operation.operation.value
            resolver = resolvers.get((kind, info.field_name))
            if resolver is None:
                raise GraphQLRequestError(
                    f"the protocol double does not implement {kind} {info.field_name!r}")
            value = resolver(args)
        else:
            if not isinstance(source, dict) or info.field_name not in source:
                raise GraphQLRequestError(
                    f"the protocol double keeps no field {info.field_name!r} on "
                    f"{info.parent_type.name!r}")
            value = source[info.field_name]
            if callable(value):
                value = value(args)
        if isinstance(value, list) and _is_row_list(info.return_type):
            value = apply_list_arguments(value, args)
        return value

    result = graphql_execute(SCHEMA, document, variable_values=variables or {},
                             field_resolver=resolve)
    if result.data is None:  # the variables did not fit: refused before execution
        return 400, {"errors": [_format(e, "BAD_USER_INPUT") for e in result.errors or ()]}
    body: Dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_format(e, None) for e in result.errors]
    return 200, body


def _is_row_list(return_type) -> bool:
    if isinstance(return_type, GraphQLNonNull):
        return_type = return_type.of_type
    return isinstance(return_type, GraphQLList) and isinstance(
        get_named_type(return_type), GraphQLObjectType)


def _format(error: Exception, code: Optional[str]) -> Dict[str, Any]:
    original = getattr(error, "original_error", None)
    if original is not None:
        message = str(original)
    else:  # without graphql-core's excerpt of the document, as apollo reports it
        message = error.message if isinstance(error, GraphQLError) else str(error)
    out: Dict[str, Any] = {"message": message}
    if isinstance(error, GraphQLError):
        if error.locations:
            out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
        if error.path:
            out["path"] = list(error.path)
    code = getattr(original, "code", None) or code
    if code:
        out["extensions"] = {"code": code}
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


def _jsonb_contains(value: Any, operand: Any) -> bool:
    """PostgreSQL's ``jsonb @> jsonb`` (Hasura's ``_contains``): objects by their keys, at any depth;
    arrays by their elements, in any order; a scalar is contained in an array holding it."""
    if isinstance(operand, dict):
        return isinstance(value, dict) and all(k in value and _jsonb_contains(value[k], v) for k, v in operand.items())
    if isinstance(operand, list):
        return isinstance(value, list) and all(any(_jsonb_contains(item, o) for item in value) for o in operand)
    if isinstance(value, list):
        return any(not isinstance(item, (list, dict)) and item == operand for item in value)
    return value == operand


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
            ok = isinstance(value, (list, dict)) and _jsonb_contains(value, operand)
        else:
            raise GraphQLRequestError(f"the protocol double does not implement operator {op!r}")
        if not ok:
            return False
    return True
