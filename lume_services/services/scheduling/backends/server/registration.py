"""Registering flows on a Prefect 1 Server and reading registered flows back.

Prefect registers a flow in three requests: the flow (with an idempotency key),
its tasks, its edges. If a later one fails, the server keeps a version without
its tasks: it is listed, every run of it fails, and registering again with the
same key returns it as "unchanged". :func:`register_completely` makes the three
one: a version found incomplete is deleted (after a failure, and before a
registration that would return it), so a flow is registered whole or not at all.
"""

import copy
import hashlib
from typing import Any, Dict, List, Optional

from lume_services.services.scheduling.fingerprint import flow_fingerprint


def storage_without(storage, flow_name: str):
    """A copy of a Prefect storage without the flow ``flow_name``, to register that flow with.

    Registering builds the storage: it adds the flow (Prefect warns "A flow with
    the same name is already contained in storage" when it is there already)
    and may set fields such as an image tag. Done on the caller's storage, a
    second registration of the same flow would warn, and would see a changed
    serialized storage (part of the flow's fingerprint), so a new version.
    Other flows the storage holds are kept; nothing is shared with ``storage``.
    """
    held = {name: f for name, f in storage._flows.items() if name != flow_name}
    fresh = copy.copy(storage)
    for name, value in vars(storage).items():
        if name not in ("flows", "_flows"):
            setattr(fresh, name, copy.deepcopy(value))
    fresh.flows = {name: location for name, location in storage.flows.items() if name != flow_name}
    fresh._flows = held
    return fresh


def registration_key(flow, image: Optional[str], labels: List[str], storage_identity: str) -> str:
    """The idempotency key of a registration: the flow's fingerprint and where it is kept.

    An unchanged flow registered again with the same image, labels and storage
    keeps its flow id; the same flow kept elsewhere is a new version.
    """
    return hashlib.sha256((flow_fingerprint(flow, image, labels) + storage_identity).encode()).hexdigest()


def register_completely(connection, client, flow, project_name: str, key: str) -> str:
    """Register ``flow`` with Prefect's client, whole or not at all; return its flow id.

    Raises:
        FlowRegistrationError: a step failed; says whether an incomplete version was deleted.
    """
    from lume_services.errors import FlowRegistrationError, ServerError

    expected = (len(flow.tasks), len(flow.edges))
    request = f"registering flow {flow.name!r}"
    for attempt in (1, 2):
        try:
            with connection.answering(request):
                flow_id = client.register(
                    flow, project_name=project_name, build=True, set_schedule_active=False,
                    no_url=True, idempotency_key=key,
                )
        except ServerError as exc:
            removed = _remove_incomplete(connection, flow.name, project_name, expected, key)
            raise FlowRegistrationError(connection.api_url, flow.name, project_name, exc.__cause__ or exc,
                                        removed) from exc
        if _registered_parts(connection, flow_id) == expected:
            return flow_id
        # the key returned a version an earlier registration left incomplete: repair it
        _delete_flow(connection, flow_id)
    raise FlowRegistrationError(connection.api_url, flow.name, project_name,
                                "the server kept the flow without all its tasks and edges",
                                _remove_incomplete(connection, flow.name, project_name, expected, key))


def _registered_parts(connection, flow_id: str):
    """``(tasks, edges)`` the server holds for a flow version, or ``None`` when it has no such version."""
    from prefect.utilities.graphql import with_args

    query = {"query": {with_args("flow_by_pk", {"id": flow_id}): {"tasks": {"id"}, "edges": {"id"}}}}
    row = connection.graphql(connection.client(), query).data.flow_by_pk
    return None if row is None else (len(row.tasks), len(row.edges))


def _remove_incomplete(connection, flow_name: str, project_name: str, expected, key: str) -> Optional[bool]:
    """Delete the newest version of a flow when this registration (``key``) left it incomplete.

    Returns:
        ``True`` when one was deleted, ``None`` when none was left, ``False`` when
        the server could not be asked or did not delete it.
    """
    from prefect.utilities.graphql import EnumValue, with_args

    from lume_services.errors import ServerError

    where = {"name": {"_eq": flow_name}, "project": {"name": {"_eq": project_name}}}
    query = {"query": {with_args("flow", {"where": where, "order_by": {"version": EnumValue("desc")}, "limit": 1}): {
        "id": True, "tasks": {"id"}, "edges": {"id"}, "flow_group": {"settings"}}}}
    try:
        found = connection.graphql(connection.client(), query).data.flow
        if not found:
            return None
        row = found[0]
        settings = row.flow_group.settings if row.flow_group is not None else None
        made_now = hasattr(settings, "get") and settings.get("idempotency_key") == key
        if not made_now or (len(row.tasks), len(row.edges)) == expected:
            return None
        return _delete_flow(connection, row.id)
    except ServerError:
        return False


def _delete_flow(connection, flow_id: str) -> bool:
    query = {"mutation($input: delete_flow_input!)": {"delete_flow(input: $input)": {"success"}}}
    result = connection.graphql(connection.client(), query, variables={"input": {"flow_id": flow_id}})
    return bool(result.data.delete_flow.success)


def flow_names(connection, project_name: str) -> List[str]:
    """The names of the unarchived flows of a project."""
    from prefect.utilities.graphql import with_args

    where = {"archived": {"_eq": False}, "project": {"name": {"_eq": project_name}}}
    query = {"query": {with_args("flow", {"where": where}): {"name"}}}
    result = connection.graphql(connection.client(), query)
    return sorted({f.name for f in result.data.flow})


def list_flows(connection, project_name: Optional[str] = None) -> List[dict]:
    """``{"name", "project_name", "flow_id", "version", "labels"}`` of every unarchived flow (of one project)."""
    from prefect.utilities.graphql import with_args

    where = {"archived": {"_eq": False}}
    if project_name is not None:
        where["project"] = {"name": {"_eq": project_name}}
    query = {
        "query": {
            with_args("flow", {"where": where}): {
                "id": True,
                "name": True,
                "version": True,
                "project": {"name"},
                "run_config": True,
            }
        }
    }
    rows = connection.graphql(connection.client(), query).data.flow
    flows = []
    for row in rows:
        run_config = row.run_config.to_dict() if row.run_config else {}
        flows.append(
            {
                "flow_id": row.id,
                "name": row.name,
                "project_name": row.project.name,
                "version": row.version,
                "labels": sorted(run_config.get("labels") or []),
            }
        )
    return sorted(flows, key=lambda f: (f["project_name"], f["name"]))


def query_flow(connection, where: dict) -> Optional[dict]:
    """The latest version of the registered flow matching ``where`` (a Hasura filter), or ``None``.

    Returns:
        ``{"flow_id", "flow", "version", "project_name", "storage", "run_config"}``;
        ``flow`` is the flow as the server knows it: its parameters (with
        defaults) and its tasks (names and slugs), not its task code, which
        stays in the flow's storage.
    """
    import marshmallow
    from prefect import Task
    from prefect.serialization.flow import FlowSchema
    from prefect.serialization.run_config import RunConfigSchema
    from prefect.serialization.storage import StorageSchema
    from prefect.utilities.graphql import EnumValue, with_args

    query = {
        "query": {
            with_args(
                "flow", {"where": where, "order_by": {"version": EnumValue("desc")}, "limit": 1}
            ): {
                "id": True,
                "name": True,
                "version": True,
                "serialized_flow": True,
                "storage": True,
                "run_config": True,
                "project": {"name"},
                "tasks": {"name", "slug"},
            }
        }
    }
    found = connection.graphql(connection.client(), query).data.flow
    if not found:
        return None
    row = found[0]
    # Prefect's client registers the tasks apart from the flow: the flow's
    # parameters stay in the serialized flow, its other tasks come from `tasks`.
    data = row.serialized_flow.to_dict()
    data["tasks"] = list(data.get("parameters") or [])
    data["edges"] = []
    flow = FlowSchema().load(data=data, partial=True, unknown=marshmallow.EXCLUDE)
    known = set(flow.slugs.values()) | {t.slug for t in flow.tasks}
    for t in sorted(row.tasks, key=lambda t: t.slug):
        if t.slug not in known:
            flow.add_task(Task(name=t.name, slug=t.slug))
    return {
        "flow_id": row.id,
        "flow": flow,
        "version": row.version,
        "project_name": row.project.name,
        "storage": StorageSchema().load(row.storage.to_dict()) if row.storage else None,
        "run_config": RunConfigSchema().load(row.run_config.to_dict()) if row.run_config else None,
    }


def flow_versions(connection, flow_ids: List[str]) -> Dict[str, dict]:
    """What the server knows of the versions ``flow_ids``, and of their flows' current versions.

    Returns:
        flow id -> ``{"name", "project_name", "version", "archived",
        "current_flow_id", "current_version"}`` (the current version is the
        latest unarchived one of the same flow; ``None`` when there is none).
        Ids the server does not know are left out.
    """
    from prefect.utilities.graphql import with_args

    ids = sorted({i for i in flow_ids if i})
    if not ids:
        return {}
    query = {
        "query": {
            with_args("flow", {"where": {"id": {"_in": ids}}}): {
                "id": True, "name": True, "version": True, "archived": True,
                "version_group_id": True, "project": {"name"},
            }
        }
    }
    rows = connection.graphql(connection.client(), query).data.flow
    groups = sorted({row.version_group_id for row in rows if row.archived})
    current: Dict[str, Any] = {}
    if groups:
        where = {"version_group_id": {"_in": groups}, "archived": {"_eq": False}}
        query = {"query": {with_args("flow", {"where": where}): {"id", "version", "version_group_id"}}}
        for row in connection.graphql(connection.client(), query).data.flow:
            best = current.get(row.version_group_id)
            if best is None or row.version > best.version:
                current[row.version_group_id] = row
    versions = {}
    for row in rows:
        latest = row if not row.archived else current.get(row.version_group_id)
        versions[row.id] = {
            "name": row.name,
            "project_name": row.project.name,
            "version": row.version,
            "archived": bool(row.archived),
            "current_flow_id": latest.id if latest is not None else None,
            "current_version": latest.version if latest is not None else None,
        }
    return versions
