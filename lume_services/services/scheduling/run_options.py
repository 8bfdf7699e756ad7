"""What one flow run is started with: run configs, ``FlowRunConfig``, and their resolution.

Every backend resolves the arguments of a run the same way
(:func:`run_options`): explicit ``parameters`` win over a ``FlowRunConfig``'s,
and a ``FlowRunConfig`` unwraps into its run config, labels, run name,
scheduled start time and poll interval. A backend then checks only that it
can honour the run config it was given.

``FlowRunConfig`` is part of the flow models' API
(``lume_services.flows.flow.FlowRunConfig``); it lives here because the
backends read it.
"""

import dataclasses
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional

from pydantic import BaseModel

#: the agent labels a flow gets when none are given
DEFAULT_LABELS = ("lume-services",)

#: where a server run's context holds the children a composed flow of flows gives back from
#: recorded runs instead of running them: ``{child: {"flow_run_id", "run_id", "cache_key"}}``
REUSED_CHILDREN_CONTEXT_KEY = "lume_services_reused_children"


class RunConfig(BaseModel, ABC):
    """Where and how a flow run executes; builds the matching Prefect run config.

    Attributes:
        labels: agent labels the run is routed by.
        env: environment variables set for the run.
    """

    labels: List[str] = list(DEFAULT_LABELS)
    env: Optional[Dict[str, str]]

    class Config:
        extra = "forbid"

    @abstractmethod
    def build(self):
        """Return the Prefect 1 run config (``prefect.run_configs.*``) for this config."""


class FlowRunConfig(BaseModel):
    """Options of one flow run.

    Attributes:
        poll_interval: how often a server backend polls the run's state.
        scheduled_start_time: when the run should start (server backends).
        parameters: parameter values; explicit ``parameters`` arguments win.
        run_config: the backend run config (env, working dir, image, ...).
        labels: agent labels of the run (server backends).
        run_name: the run's name (server backends).
    """

    poll_interval: timedelta = timedelta(seconds=10)
    scheduled_start_time: Optional[datetime]
    parameters: Optional[Dict[str, Any]]
    run_config: Optional[RunConfig]
    labels: Optional[List[str]]
    run_name: Optional[str]

    class Config:
        arbitrary_types_allowed = True


@dataclass
class RunOptions:
    """The resolved options of one run.

    Attributes:
        parameters: parameter values.
        run_config: a lume-services ``RunConfig``, a Prefect run config, or
            ``None`` for the flow's own; the backend checks it can honour it.
        labels: agent labels; ``None`` keeps the run config's or the flow's.
        run_name: the run's name (server backends).
        scheduled_start_time: when the run should start, in UTC (server backends).
        poll_interval: how often to look at the run; ``None`` uses the backend's.
        project_name: the project the run history records the run under, for
            a flow run without being registered (a flow of flows composed locally).
        children: for a flow of flows run as one Prefect run (local backend),
            which tasks are each child's (``run_records.ChildPlan``), so that
            the run history records each child.
        declaration: for a flow of flows, its declaration, kept in the local
            run history (on a server, in the run's context) so the run can be
            resumed by its id.
        run_id: the id the local run is recorded under (``None``: a new one).
        reused: for a flow of flows composed per child (server backends), the
            children given back from recorded runs instead of run, as
            ``{child: {"flow_run_id", "run_id", "cache_key"}}``; goes into the
            run's context (:data:`REUSED_CHILDREN_CONTEXT_KEY`).
    """

    parameters: Dict[str, Any] = field(default_factory=dict)
    run_config: Any = None
    labels: Optional[List[str]] = None
    run_name: Optional[str] = None
    scheduled_start_time: Optional[datetime] = None
    poll_interval: Optional[timedelta] = None
    project_name: Optional[str] = None
    children: Optional[list] = None
    declaration: Optional[dict] = None
    run_id: Optional[str] = None
    reused: Optional[dict] = None


def _utc(value: datetime) -> datetime:
    """A naive datetime is read as local time; servers get UTC."""
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(timezone.utc)


def run_options(parameters: Optional[Dict[str, Any]], run_config=None) -> RunOptions:
    """Resolve a run's arguments: ``parameters`` and a ``FlowRunConfig``, a run config or ``None``.

    A ``FlowRunConfig``'s ``poll_interval`` has a default (10 s): only an
    interval the user set counts, so that the backend's own interval applies otherwise.
    """
    options = RunOptions(parameters=dict(parameters or {}))
    if isinstance(run_config, FlowRunConfig):
        options.parameters = {**(run_config.parameters or {}), **options.parameters}
        options.labels = list(run_config.labels) if run_config.labels is not None else None
        options.run_name = run_config.run_name
        if run_config.scheduled_start_time is not None:
            options.scheduled_start_time = _utc(run_config.scheduled_start_time)
        if "poll_interval" in run_config.__fields_set__:
            options.poll_interval = run_config.poll_interval
        run_config = run_config.run_config
    options.run_config = run_config
    return options


# --- what a composed flow of flows carries about itself -------------------------------------
# What a composed flow of flows' Prefect flow carries about itself, so any run of it can be resumed by id.
#
# A flow of flows started through ``FlowOfFlows`` hands its declaration (and on
# the local backend its children's plans) to the run it starts. The registered
# composed flow may also be started as a plain flow (``Flow.run``,
# ``lume-services flows run``, the Prefect UI); such a run is given nothing, so
# the flow itself carries them:
#
# - the declaration: in an inline composition (local backend, pickled flow) as
#   an attribute; in a per-child one (server backends) as a tag
#   (``lume-declaration:<JSON>``) of the composed flow's first task by slug. A Prefect 1 flow has no free field of its own
#   that a server keeps (its serialized ``description`` is refused by
#   ``Flow.__init__`` when the client checks the flow), but task tags are kept
#   in the pickled flow (local registry) and in the tasks a server registers;
#   a server backend reads them back for a run whose context has no declaration.
# - the children's plans (``run_records.ChildPlan``: which composed tasks are each child's),
#   as an attribute kept through pickling, read by the local run recorder. They
#   carry no cache-key function (that would pickle the whole flow of flows), so a
#   plain run records no cache keys: it can be resumed, not reused as a cache.
#
# Kept here, in the scheduling vocabulary, because both backends (below the
# flow models) read what the flow models write.

#: the prefix of the task tag that holds a composed flow's declaration as JSON
DECLARATION_TAG_PREFIX = "lume-declaration:"

#: the attribute of a composed (inline) Prefect flow holding its declaration
DECLARATION_ATTRIBUTE = "lume_declaration"

#: the attribute of a composed (inline) Prefect flow holding its children's ``ChildPlan`` list
CHILD_PLANS_ATTRIBUTE = "lume_child_plans"


def carry(flow: Any, declaration: dict, children: Optional[List[Any]] = None) -> None:
    """Make ``flow`` carry ``declaration`` (and the children's plans, when given).

    An inline composition (``children`` given: the local backend, which keeps
    the pickled flow) holds both as attributes: its tasks are the children's
    own task objects, which must not be changed. A per-child composition's
    tasks are its own, so the declaration goes in its first task's tags, which
    a server keeps.
    """
    if children is not None:
        setattr(flow, DECLARATION_ATTRIBUTE, declaration)
        setattr(flow, CHILD_PLANS_ATTRIBUTE, [dataclasses.replace(plan, key_of=None) for plan in children])
        return
    tasks = sorted(flow.tasks, key=lambda t: t.slug or "")
    if tasks:
        first = tasks[0]
        kept = {t for t in first.tags if not t.startswith(DECLARATION_TAG_PREFIX)}
        first.tags = kept | {DECLARATION_TAG_PREFIX + json.dumps(declaration, sort_keys=True)}


def declaration_in_tags(tags: Iterable[Any]) -> Optional[dict]:
    """The declaration one of these task tags holds (``None``: none does)."""
    for tag in tags or ():
        if isinstance(tag, str) and tag.startswith(DECLARATION_TAG_PREFIX):
            try:
                found = json.loads(tag[len(DECLARATION_TAG_PREFIX):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def carried_declaration(flow: Any) -> Optional[dict]:
    """The declaration ``flow`` carries (``None``: it is not a composed flow of flows, or carries none)."""
    held = getattr(flow, DECLARATION_ATTRIBUTE, None)
    if isinstance(held, dict):
        return held
    for task in getattr(flow, "tasks", None) or ():
        found = declaration_in_tags(getattr(task, "tags", None))
        if found is not None:
            return found
    return None


def carried_children(flow: Any) -> Optional[list]:
    """The children's plans ``flow`` carries (``None``: none)."""
    return getattr(flow, CHILD_PLANS_ATTRIBUTE, None)
