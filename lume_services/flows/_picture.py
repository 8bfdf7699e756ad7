"""Pictures of a flow of flows: its children and mapped parameters as Mermaid text or Graphviz DOT."""

import json
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional

from lume_services.services.scheduling.state_colours import STATE_STYLES, mermaid_class_defs, state_kind

#: fill colours of a child by its final state, from the one table every picture uses
STATE_COLOURS = {state: STATE_STYLES[state_kind(state)]["fill"] for state in ("Success", "Failed", "TriggerFailed", "Cached")}


class Edge(NamedTuple):
    """A mapped parameter: ``child``'s ``parameter`` takes ``parent``'s ``task`` result, as ``map_type``."""

    parent: str
    task: str
    child: str
    parameter: str
    map_type: str

    @property
    def label(self) -> str:
        """``"<parameter> (<map type>)"``, the words the YAML uses."""
        return f"{self.parameter} ({self.map_type})"


def edges(fof) -> List[Edge]:
    """Every mapped parameter of a flow of flows, children in execution order."""
    found = []
    for child in fof.execution_order():
        for parameter, m in sorted((fof.composing_flows[child].mapped_parameters or {}).items()):
            found.append(Edge(m.parent_flow_name, m.parent_task_name, child, parameter, m.map_type))
    return found


def mermaid(fof, states: Optional[Dict[str, str]] = None) -> str:
    """The DAG as a Mermaid ``flowchart``; children filled by ``states`` (child -> final state)."""
    states = states or {}
    ids = {child: f"c{i}" for i, child in enumerate(fof.execution_order())}
    lines = ["flowchart TD"]
    for child, node in ids.items():
        lines.append(f"    {node}[{_mermaid_text(child)}]")
    for e in edges(fof):
        lines.append(f"    {ids[e.parent]} -->|{_mermaid_text(e.label)}| {ids[e.child]}")
    kinds = {child: state_kind(state) for child, state in states.items() if child in ids}
    for kind in sorted(set(kinds.values())):
        lines.append(f"    class {','.join(ids[c] for c, k in kinds.items() if k == kind)} {kind}")
    lines += mermaid_class_defs(kinds.values())
    return "\n".join(lines) + "\n"


def dot(fof, states: Optional[Dict[str, str]] = None) -> str:
    """The DAG as Graphviz DOT; children filled by ``states`` (child -> final state)."""
    states = states or {}
    lines = [
        f"digraph {_dot_text(fof.name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fillcolor="#ffffff"];',
    ]
    for child in fof.execution_order():
        attrs = ""
        if states.get(child):
            style = STATE_STYLES[state_kind(states[child])]
            dashed = ', style="rounded,filled,dashed"' if style["dashed"] else ""
            attrs = (f' [fillcolor="{style["fill"]}", color="{style["stroke"]}", fontcolor="{style["text"]}"{dashed},'
                     f" tooltip={_dot_text(states[child])}]")
        lines.append(f"    {_dot_text(child)}{attrs};")
    for e in edges(fof):
        lines.append(f"    {_dot_text(e.parent)} -> {_dot_text(e.child)} [label={_dot_text(e.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


class FlowOfFlowsPictures:
    """The pictures of a ``FlowOfFlows`` (a mixin: it reads ``composing_flows`` and ``_child_states``)."""

    if TYPE_CHECKING:  # given by FlowOfFlows
        name: str
        _child_states: Dict[str, str]

        def execution_order(self) -> List[str]: ...

    def dag(self) -> List[Edge]:
        """The DAG of children: one :class:`Edge` per mapped parameter (parent, task, child, parameter, map type)."""
        return edges(self)

    @property
    def child_states(self) -> Dict[str, str]:
        """``{child: final state}`` of the last :meth:`run_and_return` (empty before one)."""
        return dict(self._child_states)

    def to_mermaid(self, states: Optional[Dict[str, str]] = None) -> str:
        """The DAG of children as a Mermaid flowchart, edges labelled ``"<parameter> (<map type>)"``.

        Args:
            states: ``{child: state}`` to colour the children by; ``None``
                uses :attr:`child_states` (the last run's).
        """
        return mermaid(self, self._child_states if states is None else states)

    def to_dot(self, states: Optional[Dict[str, str]] = None) -> str:
        """The DAG of children as Graphviz DOT (see :meth:`to_mermaid`)."""
        return dot(self, self._child_states if states is None else states)

    def _repr_markdown_(self) -> str:
        # Jupyter shows this when the object is a cell's value (JupyterLab >= 4.1 draws Mermaid)
        return f"**flow of flows `{self.name}`**\n\n```mermaid\n{self.to_mermaid()}```\n"

    def _repr_html_(self) -> Optional[str]:
        # an SVG, needing no network: Graphviz's where it is here (extra "viz"), else one drawn here
        from lume_services.services.scheduling.run_report import graph_svg

        try:
            return render(self.to_dot(), "svg").decode()
        except Exception:
            nodes = [(child, self._child_states.get(child)) for child in self.execution_order()]
            return graph_svg(nodes, [(e.parent, e.child) for e in self.dag()], f"flow of flows {self.name}")



def render(dot_text: str, fmt: str) -> bytes:
    """Render DOT as ``svg`` or ``png`` with Graphviz.

    Raises:
        MissingExtraError: the ``graphviz`` package (extra ``viz``) is not installed.
        GraphvizNotFoundError: Graphviz's ``dot`` program is not on PATH.
    """
    from lume_services.errors import GraphvizNotFoundError, MissingExtraError

    try:
        import graphviz
    except ImportError:
        raise MissingExtraError(feature="rendering a flow of flows as svg or png", module="graphviz", extra="viz") from None
    try:
        return graphviz.Source(dot_text).pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizNotFoundError(fmt) from exc


def _mermaid_text(text: str) -> str:
    # quoted, with Mermaid's entity for a quote inside
    return '"' + text.replace('"', "#quot;") + '"'


def _dot_text(text: str) -> str:
    return json.dumps(text)  # a DOT string: double quotes, backslash escapes
