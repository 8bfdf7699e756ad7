"""What a composed flow of flows' Prefect flow carries about itself, so any run of it can be resumed by id.

A flow of flows started through ``FlowOfFlows`` hands its declaration (and on
the local backend its children's plans) to the run it starts. The registered
composed flow may also be started as a plain flow (``Flow.run``,
``lume-services flows run``, the Prefect UI); such a run is given nothing, so
the flow itself carries them:

- the declaration, as a tag (``lume-declaration:<JSON>``) of the composed
  flow's first task by slug. A Prefect 1 flow has no free field of its own
  that a server keeps (its serialized ``description`` is refused by
  ``Flow.__init__`` when the client checks the flow), but task tags are kept
  in the pickled flow (local registry) and in the tasks a server registers;
  a server backend reads them back for a run whose context has no declaration.
- the children's plans (``ChildPlan``: which composed tasks are each child's),
  as an attribute kept through pickling, read by the local run recorder. They
  carry no cache-key function (that would pickle the whole flow of flows), so a
  plain run records no cache keys: it can be resumed, not reused as a cache.

Kept here, in the scheduling vocabulary, because both backends (below the
flow models) read what the flow models write.
"""

import json
from dataclasses import replace
from typing import Any, Iterable, List, Optional

#: the prefix of the task tag that holds a composed flow's declaration as JSON
DECLARATION_TAG_PREFIX = "lume-declaration:"

#: the attribute of a composed (inline) Prefect flow holding its children's ``ChildPlan`` list
CHILD_PLANS_ATTRIBUTE = "lume_child_plans"


def carry(flow: Any, declaration: dict, children: Optional[List[Any]] = None) -> None:
    """Make ``flow`` carry ``declaration`` (and the children's plans, when given)."""
    tasks = sorted(flow.tasks, key=lambda t: t.slug or "")
    if tasks:
        first = tasks[0]
        kept = {t for t in first.tags if not t.startswith(DECLARATION_TAG_PREFIX)}
        first.tags = kept | {DECLARATION_TAG_PREFIX + json.dumps(declaration, sort_keys=True)}
    if children is not None:
        setattr(flow, CHILD_PLANS_ATTRIBUTE, [replace(plan, key_of=None) for plan in children])


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
    for task in getattr(flow, "tasks", None) or ():
        found = declaration_in_tags(getattr(task, "tags", None))
        if found is not None:
            return found
    return None


def carried_children(flow: Any) -> Optional[list]:
    """The children's plans ``flow`` carries (``None``: none)."""
    return getattr(flow, CHILD_PLANS_ATTRIBUTE, None)
