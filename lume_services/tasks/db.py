"""Packaged Prefect tasks that store a result and load it in another flow run.

A flow stores a :class:`~lume_services.results.Result` with
:class:`SaveDBResult` and returns its reference; a flow that receives the
reference (through a ``db`` mapped parameter) gets a value out of it with
:class:`LoadDBResult`, or directly with :func:`load_db_result_value`.
"""

import json
from typing import Any, Dict, Optional, Sequence, Union

from dependency_injector.wiring import Provide
from prefect import Task
from prefect.engine.results import PrefectResult
from prefect.utilities.tasks import defaults_from_attrs

from lume_services.composition import Context, inject
from lume_services.errors import ResultAttributeError, ResultKeyError
from lume_services.results.result import Result, load_result
from lume_services.services.results.service import ResultsDBService
from lume_services.tasks.file import by_keyword, given_services


class SaveDBResult(Task):
    """Store a result in the results database and return its reference.

    Storing is idempotent: a result whose unique hash is already stored is not
    written again. The reference (``Result.unique_rep()``) is kept with a
    ``PrefectResult`` so a Prefect server can hand it to another flow run.

    Args:
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to ``save_db_result``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "save_db_result")
        kwargs.setdefault("result", PrefectResult())
        super().__init__(**kwargs)

    def run(self, result: Result, results_db_service: Optional[ResultsDBService] = None) -> Dict[str, Any]:
        """Insert the result.

        Args:
            result: the result to store.
            results_db_service: the results service, as LUME-services' task
                takes it; ``None`` uses the configured one.

        Returns:
            Its reference: ``{"project_name", "result_type_string", "query"}``.
        """
        lineage = run_lineage()
        if lineage is None:
            result.insert(**given_services(results_db_service=results_db_service))
        else:  # the stored document says which run, child and version made it (a first store wins)
            service = results_db_service or _injected_results_db_service()
            service.insert_one(result.project_name, {**result._prepare_insert(), "lineage": lineage})
        return result.unique_rep()


#: the Prefect context key under which a flow-of-flows run gives each child's registered flow id
CHILD_FLOW_IDS_CONTEXT_KEY = "lume_child_flow_ids"
#: the context keys of a child's own flow run (server backends) naming the composed run, its flow and the child
PARENT_RUN_CONTEXT_KEY = "lume_parent_run_id"
PARENT_FLOW_CONTEXT_KEY = "lume_parent_flow_id"
CHILD_NAME_CONTEXT_KEY = "lume_child_name"


def run_lineage() -> Optional[Dict[str, Any]]:
    """Where a value stored now comes from, read from the Prefect context of the task run storing it.

    Returns:
        ``{"run_id", "flow_id", "task", "child", "child_flow_id", "parameters"}``
        inside a flow run (``child`` and ``child_flow_id`` for a flow of flows
        run in one Prefect run, its parameters then the child's own); ``None``
        outside one. A child run as its own flow run by a composed run on a
        server (its context names the composed run: :data:`PARENT_RUN_CONTEXT_KEY`)
        records the composed run and flow as ``run_id`` and ``flow_id``, its
        task as ``"<child>/<task>"``, its own flow id as ``child_flow_id``, its
        run's parameters, and its own run as ``child_run_id``.
    """
    import prefect

    run_id = prefect.context.get("flow_run_id")
    if run_id is None:
        return None
    task = prefect.context.get("task_full_name") or prefect.context.get("task_name")
    parameters = dict(prefect.context.get("parameters") or {})
    parent = prefect.context.get(PARENT_RUN_CONTEXT_KEY)
    if parent is not None:
        child = prefect.context.get(CHILD_NAME_CONTEXT_KEY)
        lineage = {
            "run_id": str(parent),
            "flow_id": prefect.context.get(PARENT_FLOW_CONTEXT_KEY),
            "task": f"{child}/{task}",
            "child": child,
            "child_flow_id": prefect.context.get("flow_id"),
            "parameters": parameters,
            "child_run_id": str(run_id),
        }
        return json.loads(json.dumps(lineage, default=repr))
    child = str(task).partition("/")[0] if task and "/" in str(task) else None
    if child is not None:
        parameters = {k[len(child) + 1:]: v for k, v in parameters.items() if k.startswith(f"{child}-")}
    flow_ids = prefect.context.get(CHILD_FLOW_IDS_CONTEXT_KEY) or {}
    lineage = {
        "run_id": str(run_id),
        "flow_id": prefect.context.get("lume_flow_id") or prefect.context.get("flow_id"),
        "task": task,
        "child": child,
        "child_flow_id": flow_ids.get(child) if child is not None else None,
        "parameters": parameters,
    }
    return json.loads(json.dumps(lineage, default=repr))


@inject
def _injected_results_db_service(
    results_db_service: ResultsDBService = Provide[Context.results_db_service],
) -> ResultsDBService:
    return results_db_service


@inject
def load_db_result_value(
    result_rep: Union[Dict[str, Any], str],
    attribute: Optional[str] = None,
    attribute_index: Optional[Sequence[Any]] = None,
    results_db_service: ResultsDBService = Provide[Context.results_db_service],
) -> Any:
    """Load a stored result and return one value out of it.

    ``load_db_result_value(rep, "outputs", ["text"])`` returns
    ``result.outputs["text"]``. Keys index dicts; for lists, a key is an
    index (``"0"`` or ``0``). Without ``attribute``, the first key of
    ``attribute_index`` names the attribute, as in LUME-services' later
    releases (``attribute_index=["outputs", "text"]``).

    Args:
        result_rep: the reference returned by ``SaveDBResult`` (a dict, or its JSON text).
        attribute: the attribute of the result; ``None`` returns the whole result.
        attribute_index: keys applied in turn to the attribute's value.
        results_db_service: the results service; injected when omitted.

    Returns:
        The value.

    Raises:
        InvalidResultReferenceError: ``result_rep`` is not a result reference.
        ResultNotFoundError: the result is not stored.
        ResultAttributeError: the result has no such attribute; names its attributes.
        ResultKeyError: a key is missing; names the keys that exist there.
    """
    result = load_result(result_rep, results_db_service=results_db_service)
    if attribute is None and attribute_index:
        attribute, *attribute_index = attribute_index
    if attribute is None:
        return result
    if attribute not in result.__fields__:
        raise ResultAttributeError(type(result).__name__, attribute, result.__fields__)
    value = getattr(result, attribute)
    path = attribute
    for key in attribute_index or []:
        value = _index(value, key, path)
        path = f"{path}[{key!r}]"
    return value


def _index(value: Any, key: Any, path: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        raise ResultKeyError(path, key, value.keys())
    if isinstance(value, (list, tuple)):
        position = int(key) if isinstance(key, str) and key.lstrip("-").isdigit() else key
        if isinstance(position, int) and -len(value) <= position < len(value):
            return value[position]
        raise ResultKeyError(path, key, range(len(value)))
    raise ResultKeyError(path, key, [])


class LoadDBResult(Task):
    """Load a stored result from its reference and return one value out of it.

    Configured as Prefect's task library tasks are: what is given here is used
    where :meth:`run` is not given that argument (``defaults_from_attrs``), so
    ``LoadDBResult(attribute="outputs", attribute_index=["text"])(rep)`` and
    ``LoadDBResult()(rep, "outputs", ["text"])`` load the same value.

    Args:
        attribute: the default ``attribute`` of :meth:`run`.
        attribute_index: the default ``attribute_index`` of :meth:`run`.
        **kwargs: ``prefect.Task`` arguments; ``name`` defaults to ``load_db_result``.
    """

    def __init__(
        self,
        attribute: Optional[str] = None,
        attribute_index: Optional[Sequence[Any]] = None,
        **kwargs: Any,
    ) -> None:
        self.attribute = attribute
        self.attribute_index = None if attribute_index is None else list(attribute_index)
        kwargs.setdefault("name", "load_db_result")
        super().__init__(**kwargs)

    @by_keyword
    @defaults_from_attrs("attribute", "attribute_index")
    def run(
        self,
        result_rep: Union[Dict[str, Any], str],
        attribute: Optional[str] = None,
        attribute_index: Optional[Sequence[Any]] = None,
        results_db_service: Optional[ResultsDBService] = None,
    ) -> Any:
        """Return ``getattr(result, attribute)`` indexed by each key of ``attribute_index``.

        Args:
            result_rep: the reference returned by ``SaveDBResult``.
            attribute: the attribute of the result (when not given, the one
                given to ``__init__``); ``None`` takes it from the first key of
                ``attribute_index``, or returns the whole result.
            attribute_index: keys applied in turn to the attribute's value
                (when not given, the ones given to ``__init__``).
            results_db_service: the results service, as LUME-services' task
                takes it; ``None`` uses the configured one.

        Returns:
            The value (see :func:`load_db_result_value`).

        Raises:
            ResultNotFoundError: the result is not stored.
            ResultAttributeError: the result has no such attribute.
            ResultKeyError: a key is missing.
        """
        return load_db_result_value(
            result_rep, attribute, attribute_index, **given_services(results_db_service=results_db_service)
        )

