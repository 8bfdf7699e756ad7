"""The GraphQL schema the double validates every request against.

A real Prefect 1 Server answers through apollo, which stitches two schemas:
Hasura's (generated from the database tables, with ``where`` / ``order_by`` /
``limit`` / ``offset`` / ``distinct_on`` on every list) and the Prefect
graphql service's (the mutations with ``input:`` objects). This module writes
the part of both that Prefect 1.4.1's client, agent and flow runner use, from
the facts of the real server's table definitions and schema (names, argument
types, which fields are required); it is not a copy of either.

- :data:`TABLES` describes the Hasura tables: columns with their Hasura scalar,
  object and array relationships. The Hasura SDL is generated from it.
- :data:`PREFECT_SDL` holds the Prefect service's operations the client sends.
- :class:`DepthLimitRule` refuses documents nested deeper than 7, counted as
  apollo's ``graphql-depth-limit(7)`` counts (root fields at depth 0).

Scalars refuse malformed values (a UUID that is not one, a date that does not
parse), so an invalid request is refused before any resolver runs.

Pinned to :data:`SERVER_VERSION` (PrefectHQ/server 2022.09.23): the tables, operations and rules were read
from PrefectHQ/server at that release (its Python and GraphQL sources are
unchanged up to the repository's last commit, cd87420, which bumped only
apollo's npm dependencies), the server the ``prefecthq/server:core-1.4.1``
image of Prefect 1.4.1's ``prefect server start`` runs.
"""

import json
import uuid
from typing import Dict, List, Tuple

import pendulum
from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    ValidationRule,
    build_schema,
)
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    StringValueNode,
)
from graphql.utilities import value_from_ast_untyped

#: the PrefectHQ/server release the double was read from (schema, rules, background services)
SERVER_VERSION = "2022.09.23"

MAX_DEPTH = 7

# table -> (columns {name: hasura scalar}, object relationships {name: table},
#           array relationships {name: table})
TABLES: Dict[str, Tuple[Dict[str, str], Dict[str, str], Dict[str, str]]] = {
    "tenant": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "name": "String",
         "slug": "String", "info": "jsonb", "settings": "jsonb"},
        {},
        {"projects": "project", "flows": "flow", "flow_groups": "flow_group"},
    ),
    "project": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "name": "String", "description": "String"},
        {"tenant": "tenant"},
        {"flows": "flow"},
    ),
    "flow_group": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "name": "String", "description": "String", "labels": "jsonb", "schedule": "jsonb",
         "settings": "jsonb", "default_parameters": "jsonb", "run_config": "jsonb"},
        {"tenant": "tenant"},
        {"flows": "flow"},
    ),
    "flow": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "project_id": "uuid", "flow_group_id": "uuid", "version_group_id": "String",
         "version": "Int", "name": "String", "description": "String", "archived": "Boolean",
         "core_version": "String", "serialized_flow": "jsonb", "environment": "jsonb",
         "run_config": "jsonb", "storage": "jsonb", "parameters": "jsonb", "settings": "jsonb",
         "schedule": "jsonb", "is_schedule_active": "Boolean"},
        {"project": "project", "tenant": "tenant", "flow_group": "flow_group"},
        {"tasks": "task", "edges": "edge", "flow_runs": "flow_run"},
    ),
    "task": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "flow_id": "uuid", "name": "String", "slug": "String", "description": "String",
         "type": "String", "max_retries": "Int", "retry_delay": "interval", "trigger": "String",
         "mapped": "Boolean", "auto_generated": "Boolean", "cache_key": "String",
         "is_root_task": "Boolean", "is_terminal_task": "Boolean",
         "is_reference_task": "Boolean", "tags": "jsonb"},
        {"flow": "flow"},
        {"task_runs": "task_run", "upstream_edges": "edge", "downstream_edges": "edge"},
    ),
    "edge": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "flow_id": "uuid", "upstream_task_id": "uuid", "downstream_task_id": "uuid",
         "key": "String", "mapped": "Boolean"},
        {"flow": "flow", "upstream_task": "task", "downstream_task": "task"},
        {},
    ),
    "flow_run": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "flow_id": "uuid", "agent_id": "uuid", "name": "String", "parameters": "jsonb",
         "context": "jsonb", "labels": "jsonb", "run_config": "jsonb", "version": "Int",
         "heartbeat": "timestamptz", "scheduled_start_time": "timestamptz",
         "start_time": "timestamptz", "end_time": "timestamptz", "duration": "interval",
         "auto_scheduled": "Boolean", "times_resurrected": "Int", "idempotency_key": "String",
         "state": "String", "state_timestamp": "timestamptz", "state_message": "String",
         "state_result": "jsonb", "state_start_time": "timestamptz",
         "serialized_state": "jsonb"},
        {"flow": "flow", "tenant": "tenant", "agent": "agent"},
        {"task_runs": "task_run", "states": "flow_run_state", "logs": "log"},
    ),
    "task_run": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "flow_run_id": "uuid", "task_id": "uuid", "name": "String", "map_index": "Int",
         "version": "Int", "heartbeat": "timestamptz", "start_time": "timestamptz",
         "end_time": "timestamptz", "duration": "interval", "run_count": "Int",
         "cache_key": "String", "state": "String", "state_timestamp": "timestamptz",
         "state_message": "String", "state_result": "jsonb", "state_start_time": "timestamptz",
         "serialized_state": "jsonb"},
        {"flow_run": "flow_run", "task": "task", "tenant": "tenant"},
        {"states": "task_run_state", "logs": "log"},
    ),
    "flow_run_state": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "flow_run_id": "uuid", "timestamp": "timestamptz", "state": "String",
         "message": "String", "result": "jsonb", "start_time": "timestamptz",
         "serialized_state": "jsonb", "version": "Int"},
        {"flow_run": "flow_run"},
        {},
    ),
    "task_run_state": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "task_run_id": "uuid", "timestamp": "timestamptz", "state": "String",
         "message": "String", "result": "jsonb", "start_time": "timestamptz",
         "serialized_state": "jsonb", "version": "Int"},
        {"task_run": "task_run"},
        {},
    ),
    "log": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "flow_run_id": "uuid", "task_run_id": "uuid", "timestamp": "timestamptz",
         "name": "String", "level": "String", "message": "String", "info": "jsonb",
         "is_loaded_from_archive": "Boolean"},
        {},
        {},
    ),
    "agent": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "agent_config_id": "uuid", "name": "String", "type": "String",
         "core_version": "String", "labels": "jsonb", "last_queried": "timestamptz"},
        {"agent_config": "agent_config"},
        {"flow_runs": "flow_run"},
    ),
    "agent_config": (
        {"id": "uuid", "created": "timestamptz", "updated": "timestamptz", "tenant_id": "uuid",
         "name": "String", "settings": "jsonb"},
        {},
        {"agents": "agent"},
    ),
}

_COMPARISONS = {
    # Hasura's operators per scalar; every scalar has the ordering ones
    "common": "_eq: {t} _neq: {t} _gt: {t} _gte: {t} _lt: {t} _lte: {t} "
              "_in: [{t}!] _nin: [{t}!] _is_null: Boolean",
    "String": "_like: String _nlike: String _ilike: String _nilike: String "
              "_similar: String _nsimilar: String _regex: String _iregex: String",
    "jsonb": "_contains: jsonb _contained_in: jsonb _has_key: String "
             "_has_keys_all: [String!] _has_keys_any: [String!]",
}


def _list_args(table: str) -> str:
    return (f"(distinct_on: [{table}_select_column!], limit: Int, offset: Int, "
            f"order_by: [{table}_order_by!], where: {table}_bool_exp)")


def hasura_sdl() -> str:
    """The Hasura half of the stitched schema, generated from :data:`TABLES`."""
    parts: List[str] = [
        "scalar uuid", "scalar timestamptz", "scalar jsonb", "scalar interval",
        "enum order_by { asc asc_nulls_first asc_nulls_last desc desc_nulls_first desc_nulls_last }",
    ]
    for scalar in ("uuid", "timestamptz", "jsonb", "interval", "Int", "String", "Boolean"):
        ops = _COMPARISONS["common"].format(t=scalar) + " " + _COMPARISONS.get(scalar, "")
        parts.append(f"input {scalar}_comparison_exp {{ {ops} }}")
    root: List[str] = []
    for table, (columns, objects, arrays) in TABLES.items():
        fields = [f"{c}{'(path: String)' if t == 'jsonb' else ''}: {t}" for c, t in columns.items()]
        fields += [f"{name}: {target}" for name, target in objects.items()]
        fields += [f"{name}{_list_args(target)}: [{target}!]!" for name, target in arrays.items()]
        parts.append(f"type {table} {{ {' '.join(fields)} }}")
        bool_exp = [f"_and: [{table}_bool_exp!]", f"_or: [{table}_bool_exp!]", f"_not: {table}_bool_exp"]
        bool_exp += [f"{c}: {t}_comparison_exp" for c, t in columns.items()]
        bool_exp += [f"{name}: {target}_bool_exp" for name, target in {**objects, **arrays}.items()]
        parts.append(f"input {table}_bool_exp {{ {' '.join(bool_exp)} }}")
        order = [f"{c}: order_by" for c in columns] + [f"{n}: {t}_order_by" for n, t in objects.items()]
        parts.append(f"input {table}_order_by {{ {' '.join(order)} }}")
        parts.append(f"enum {table}_select_column {{ {' '.join(columns)} }}")
        root.append(f"{table}{_list_args(table)}: [{table}!]!")
        root.append(f"{table}_by_pk(id: uuid!): {table}")
    parts.append(f"type Query {{ {' '.join(root)} }}")
    return "\n".join(parts)


# The Prefect graphql service's operations that Prefect 1.4.1 sends, with the
# real input types (required fields marked as the server marks them).
PREFECT_SDL = """
scalar JSON
scalar DateTime
scalar UUID

enum log_level { DEBUG INFO WARNING ERROR CRITICAL }

extend type Query {
  hello: String
  get_task_run_info(task_run_id: UUID!): task_run_info_payload
}

type Mutation {
  create_tenant(input: create_tenant_input!): tenant_id_payload
  create_project(input: create_project_input!): project_id_payload
  create_flow(input: create_flow_input!): flow_id_payload
  create_flow_from_compressed_string(input: create_flow_from_compressed_string_input!): flow_id_payload
  register_tasks(input: register_tasks_input!): success_payload
  register_edges(input: register_edges_input!): success_payload
  delete_flow(input: delete_flow_input!): success_payload
  set_schedule_active(input: set_schedule_active_input!): success_payload
  create_flow_run(input: create_flow_run_input!): flow_run_id_payload
  set_flow_run_name(input: set_flow_run_name_input!): success_payload
  set_task_run_name(input: set_task_run_name_input!): success_payload
  set_flow_run_states(input: set_flow_run_states_input!): set_flow_run_states_payload
  set_task_run_states(input: set_task_run_states_input!): set_task_run_states_payload
  cancel_flow_run(input: cancel_flow_run_input!): cancel_flow_run_payload
  get_or_create_task_run_info(input: get_or_create_task_run_info_input!): get_or_create_task_run_info_payload
  update_flow_run_heartbeat(input: update_flow_run_heartbeat_input!): success_payload
  update_task_run_heartbeat(input: update_task_run_heartbeat_input!): success_payload
  write_run_logs(input: write_run_logs_input!): success_payload
  register_agent(input: register_agent_input!): agent_id_payload
  get_runs_in_queue(input: get_runs_in_queue_input!): runs_in_queue_payload
  create_task_run_artifact(input: create_task_run_artifact_input!): task_run_artifact_id_payload
}

input create_tenant_input { name: String! slug: String! }
input create_project_input { tenant_id: UUID! name: String! description: String }
input create_flow_input {
  serialized_flow: JSON! project_id: UUID! version_group_id: String
  set_schedule_active: Boolean description: String idempotency_key: String
}
input create_flow_from_compressed_string_input {
  serialized_flow: String! project_id: UUID! version_group_id: String
  set_schedule_active: Boolean description: String idempotency_key: String
}
input register_tasks_input { serialized_tasks: JSON! flow_id: UUID! }
input register_edges_input { serialized_edges: JSON! flow_id: UUID! }
input delete_flow_input { flow_id: UUID! }
input set_schedule_active_input { flow_id: UUID! }
input create_flow_run_input {
  flow_id: UUID parameters: JSON labels: [String!] run_config: JSON context: JSON
  scheduled_start_time: DateTime idempotency_key: String flow_run_name: String
  version_group_id: String
}
input set_flow_run_name_input { flow_run_id: UUID! name: String! }
input set_task_run_name_input { task_run_id: UUID! name: String! }
input set_flow_run_states_input { states: [set_flow_run_state_input!]! }
input set_flow_run_state_input { flow_run_id: UUID! version: Int state: JSON! }
input set_task_run_states_input { states: [set_task_run_state_input!]! }
input set_task_run_state_input { task_run_id: UUID! version: Int state: JSON! flow_run_version: Int }
input cancel_flow_run_input { flow_run_id: UUID! }
input get_or_create_task_run_info_input { flow_run_id: UUID! task_id: UUID! map_index: Int }
input update_flow_run_heartbeat_input { flow_run_id: UUID! }
input update_task_run_heartbeat_input { task_run_id: UUID! }
input write_run_log_input {
  flow_run_id: UUID! task_run_id: UUID timestamp: DateTime message: String name: String
  level: log_level info: JSON
}
input write_run_logs_input { logs: [write_run_log_input!]! }
input register_agent_input {
  tenant_id: UUID labels: [String!] agent_config_id: UUID type: String! name: String
}
input get_runs_in_queue_input { tenant_id: UUID! before: DateTime labels: [String!] }
input create_task_run_artifact_input { task_run_id: UUID! kind: String! data: JSON! tenant_id: UUID }

type success_payload { success: Boolean error: String }
type tenant_id_payload { id: UUID }
type project_id_payload { id: UUID }
type flow_id_payload { id: UUID }
type flow_run_id_payload { id: UUID }
type agent_id_payload { id: UUID }
type task_run_artifact_id_payload { id: UUID }
type task_run_info_payload { id: UUID version: Int serialized_state: JSON state: String }
type get_or_create_task_run_info_payload { id: UUID version: Int state: String serialized_state: JSON }
type set_flow_run_state_payload { id: UUID status: String message: String }
type set_flow_run_states_payload { states: [set_flow_run_state_payload!] }
type set_task_run_state_payload { id: UUID status: String message: String }
type set_task_run_states_payload { states: [set_task_run_state_payload!] }
type cancel_flow_run_payload { state: String }
type runs_in_queue_payload { flow_run_ids: [String!] }
"""


def _uuid(value):
    if not isinstance(value, str):
        raise GraphQLError(f"Could not parse UUID: {value!r}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise GraphQLError(f"Could not parse UUID: {value}") from None


def _datetime(value):
    if not isinstance(value, str):
        raise GraphQLError(f"Could not parse date: {value!r}")
    try:
        return pendulum.parse(value).in_tz("UTC").isoformat()
    except Exception:
        raise GraphQLError(f"Could not parse date: {value}") from None


def _string_literal(parse):
    def literal(node, variables=None):
        if not isinstance(node, StringValueNode):
            raise GraphQLError("expected a string literal")
        return parse(node.value)

    return literal


def _json_literal(node, variables=None):
    # the Prefect service loads a JSON literal from a string (variables arrive as JSON)
    if not isinstance(node, StringValueNode):
        raise GraphQLError("a JSON literal must be a string holding JSON")
    try:
        return json.loads(node.value)
    except ValueError:
        raise GraphQLError("a JSON literal must be a string holding JSON") from None


def _identity(value):
    return value


def _scalars() -> Dict[str, dict]:
    as_str = {"serialize": str}
    return {
        "UUID": {"parse_value": _uuid, "parse_literal": _string_literal(_uuid), **as_str},
        "uuid": {"parse_value": _uuid, "parse_literal": _string_literal(_uuid), **as_str},
        "DateTime": {"parse_value": _datetime, "parse_literal": _string_literal(_datetime), **as_str},
        "timestamptz": {"parse_value": _datetime, "parse_literal": _string_literal(_datetime), **as_str},
        "JSON": {"parse_value": _identity, "parse_literal": _json_literal, "serialize": _identity},
        # Hasura takes jsonb literals as GraphQL values
        "jsonb": {"parse_value": _identity, "serialize": _identity,
                  "parse_literal": lambda node, variables=None: value_from_ast_untyped(node, variables)},
        "interval": {"parse_value": str, "serialize": str,
                     "parse_literal": _string_literal(str)},
    }


def build() -> GraphQLSchema:
    """Build the stitched schema with its scalars' parsing and serialisation."""
    schema = build_schema(hasura_sdl() + "\n" + PREFECT_SDL)
    for name, functions in _scalars().items():
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        # graphql-core 3.3 names (coerce_*) and, for 3.2, the older ones
        for new_name, old_name in (("coerce_input_value", "parse_value"),
                                   ("coerce_output_value", "serialize"),
                                   ("coerce_input_literal", "parse_literal")):
            setattr(scalar, new_name, functions[old_name])
            setattr(scalar, old_name, functions[old_name])
    return schema


class DepthLimitRule(ValidationRule):
    """Refuse an operation nested deeper than :data:`MAX_DEPTH`.

    Counts as ``graphql-depth-limit`` does: root fields are at depth 0, fragments
    add no depth, and fields starting with ``__`` are not counted.
    """

    def enter_operation_definition(self, node: OperationDefinitionNode, *_):
        fragments = {name: self.context.get_fragment(name) for name in self._spread_names(node)}
        name = node.name.value if node.name else ""
        for selection in node.selection_set.selections:
            self._depth(selection, fragments, 0, name)

    def _spread_names(self, node) -> List[str]:
        names, stack = [], [node]
        while stack:
            current = stack.pop()
            selection_set = getattr(current, "selection_set", None)
            for selection in (selection_set.selections if selection_set else ()):
                if isinstance(selection, FragmentSpreadNode):
                    names.append(selection.name.value)
                    fragment = self.context.get_fragment(selection.name.value)
                    if fragment is not None:
                        stack.append(fragment)
                else:
                    stack.append(selection)
        return names

    def _depth(self, node, fragments, depth: int, operation: str) -> int:
        if depth > MAX_DEPTH:
            self.report_error(GraphQLError(
                f"'{operation}' exceeds maximum operation depth of {MAX_DEPTH}", node))
            return depth
        if isinstance(node, FieldNode):
            if node.name.value.startswith("__") or node.selection_set is None:
                return 0
            return 1 + max(self._depth(s, fragments, depth + 1, operation)
                           for s in node.selection_set.selections)
        if isinstance(node, FragmentSpreadNode):
            node = fragments.get(node.name.value)
            if node is None:
                return 0
        # an inline fragment or a fragment's definition: its fields at this depth
        return max(self._depth(s, fragments, depth, operation)
                   for s in node.selection_set.selections)


SCHEMA = build()
