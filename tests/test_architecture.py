"""The package's layers, read from its imports: no import cycle, and imports only point down.

Layers, top to bottom: the user models (``lume_services.flows``, ``.files``,
``.results``, ``.tasks``) and the CLI, then the services
(``lume_services.services``: scheduling, files, results, with their backends),
with ``lume_services.config`` as the composition root beside them. A module may
import from its own layer or below it, never from above, not even inside a
function.

The import graph is read with ``ast``, not by importing: every ``import`` and
``from ... import`` counts, at module level or inside a function, except those
under ``if TYPE_CHECKING:`` (they never run). ``import a.b.c`` is an edge to
the module ``a.b.c`` only, although Python also runs ``a`` and ``a.b``: a
package's ``__init__`` is a node of its own, reached when an import names the
package (``import a.b``, ``from a.b import name``, ``from a.b import c``, which
is an edge to ``a.b`` and to the submodule ``a.b.c``).
"""

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

import lume_services

PACKAGE_DIR = Path(lume_services.__file__).resolve().parent


# --- reading the import graph ----------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One edge of the graph: ``importer`` imports ``imported`` at ``path:line``."""

    importer: str
    imported: str
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_names(package_dir: Path) -> Dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every import statement, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _deepest_module(dotted: str, known: Set[str]) -> Optional[str]:
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in known:
            return name
        parts.pop()
    return None


def imports_of(name: str, path: Path, known: Set[str], root: Path) -> List[Import]:
    """The imports of one module that name modules in ``known``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    shown = str(path.relative_to(root.parent))
    edges = []
    for node in _import_nodes(tree):
        targets: List[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # "from p import x" names p, so it runs p's __init__; and x too when x is a submodule
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
            targets = [t for t in targets if t == source or t in known]
        for target in targets:
            imported = _deepest_module(target, known)
            if imported is not None and imported != name:
                edges.append(Import(name, imported, shown, node.lineno))
    return edges


def import_graph(package_dir: Path) -> Dict[str, Dict[str, Import]]:
    """``{importer: {imported: first Import of it}}`` among the package's modules."""
    modules = module_names(package_dir)
    known = set(modules)
    graph: Dict[str, Dict[str, Import]] = {}
    for name, path in modules.items():
        edges: Dict[str, Import] = {}
        for edge in sorted(imports_of(name, path, known, package_dir), key=lambda e: e.line):
            edges.setdefault(edge.imported, edge)
        graph[name] = edges
    return graph


# --- cycles ----------------------------------------------------------------------


def strongly_connected(graph: Dict[str, Dict[str, Import]]) -> List[List[str]]:
    """The groups of modules that import each other, directly or not (more than one module)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    groups: List[List[str]] = []

    # iterative Tarjan: the graph is small, but recursion depth should not depend on it
    for start in sorted(graph):
        if start in index:
            continue
        work: List[Tuple[str, List[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, {}))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def shortest_cycle_through(start: str, graph: Dict[str, Dict[str, Import]], members: Set[str]) -> List[str]:
    """The shortest chain ``start -> ... -> start`` inside one group of modules."""
    previous: Dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt not in members:
                    continue
                if nxt == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return [start] + chain[::-1][1:] + [start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a group of modules that import each other but on no cycle")


def describe_cycles(graph: Dict[str, Dict[str, Import]]) -> List[str]:
    """For each group of modules that import each other: its members, and a shortest
    cycle through each member, every hop with the file and line of its import."""
    reports = []
    for group in strongly_connected(graph):
        members = set(group)
        chains: List[List[str]] = []
        seen: Set[Tuple[str, ...]] = set()
        for module in group:
            chain = shortest_cycle_through(module, graph, members)
            ring = chain[:-1]
            key = min(tuple(ring[i:] + ring[:i]) for i in range(len(ring)))  # one cycle, any start
            if key not in seen:
                seen.add(key)
                chains.append(chain)
        lines = [f"import cycle among {len(group)} modules: {', '.join(group)}"]
        for chain in chains:
            lines.append("  " + " -> ".join(chain))
            for a, b in zip(chain, chain[1:]):
                lines.append(f"      {a} -> {b}  ({graph[a][b].where()})")
        reports.append("\n".join(lines))
    return reports


# --- layers ----------------------------------------------------------------------


def _in(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def upward_imports(graph: Dict[str, Dict[str, Import]], lower, upper) -> List[str]:
    """Imports from a module in ``lower`` of a module in ``upper``, as readable lines."""
    return [
        f"{edge.importer} -> {edge.imported}  ({edge.where()})"
        for importer in sorted(graph)
        if _in(importer, lower)
        for imported, edge in sorted(graph[importer].items())
        if _in(imported, upper)
    ]


USER_MODELS = ["lume_services.flows", "lume_services.files", "lume_services.results", "lume_services.tasks",
               "lume_services.models"]
CLI = ["lume_services.cli"]


@pytest.fixture(scope="module")
def graph():
    return import_graph(PACKAGE_DIR)


def test_the_package_has_no_import_cycle_counting_imports_inside_functions(graph):
    cycles = describe_cycles(graph)
    assert not cycles, "\n\n".join(cycles)


def test_services_import_no_user_model_and_no_cli_module(graph):
    upward = upward_imports(graph, ["lume_services.services"], USER_MODELS + CLI)
    assert not upward, "the services layer imports from above it:\n" + "\n".join(upward)


def test_config_imports_no_flow_task_or_cli_module(graph):
    upward = upward_imports(
        graph, ["lume_services.config"], ["lume_services.flows", "lume_services.tasks"] + CLI
    )
    assert not upward, "the composition root imports the models it wires:\n" + "\n".join(upward)


BACKENDS = ["lume_services.services.scheduling.backends"]


def test_no_user_model_imports_anything_under_backends(graph):
    """The models reach a backend only through ``SchedulingService``: the vocabulary
    they share with backends lives beside the service, not under ``backends/``."""
    reaching = upward_imports(graph, USER_MODELS + ["lume_services.examples"], BACKENDS)
    assert not reaching, "a user model imports a backend module:\n" + "\n".join(reaching)


#: the size a module or a folder may grow to before it is two of them
MAX_MODULE_LINES = 600
MAX_FOLDER_MODULES = 15
# being split now (issue 18): the composition root
PENDING_SPLIT = {"lume_services/config.py"}


def test_no_module_is_longer_than_600_lines():
    long = {
        str(path.relative_to(PACKAGE_DIR.parent)): n
        for path in PACKAGE_DIR.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    long = {name: n for name, n in long.items() if name not in PENDING_SPLIT}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them at their seams): {long}"


def test_no_folder_holds_more_than_15_modules():
    crowded = {
        str(folder.relative_to(PACKAGE_DIR.parent)): n
        for folder in [PACKAGE_DIR, *(p for p in PACKAGE_DIR.rglob("*") if p.is_dir())]
        if (n := len([m for m in folder.glob("*.py") if m.name != "__init__.py"])) > MAX_FOLDER_MODULES
    }
    assert not crowded, f"folders over {MAX_FOLDER_MODULES} modules (group them by owner): {crowded}"


# --- the graph reader itself, on a package made for it --------------------------


def write_package(root: Path, files: Dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_an_import_inside_a_function_closes_a_cycle(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import helper\n",
        "pkg/b.py": "def helper():\n    from pkg import a\n    return a\n",
    })

    (report,) = describe_cycles(import_graph(package))

    assert "pkg.a -> pkg.b -> pkg.a" in report
    assert "pkg/b.py:2" in report


def test_imports_under_type_checking_are_not_edges(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": (
            "import typing\nfrom typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.a import A\nif typing.TYPE_CHECKING:\n    import pkg.a\n"
            "else:\n    import pkg.c\n"
        ),
        "pkg/c.py": "",
    })

    graph = import_graph(package)

    assert set(graph["pkg.b"]) == {"pkg.c"}
    assert describe_cycles(graph) == []


def test_relative_imports_resolve_against_the_importing_modules_package(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from .leaf import VALUE\n",
        "pkg/sub/leaf.py": "VALUE = 1\n",
        "pkg/sub/up.py": "from .. import NAME\n",
        "pkg/sub/sibling.py": "from ..sub import VALUE\n",
    })

    graph = import_graph(package)

    assert set(graph["pkg.sub"]) == {"pkg.sub.leaf"}
    assert set(graph["pkg.sub.up"]) == {"pkg"}
    assert set(graph["pkg.sub.sibling"]) == {"pkg.sub"}


def test_from_a_package_import_a_submodule_is_an_edge_to_the_package_and_the_submodule(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "from . import sub\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/leaf.py": "",
        "pkg/sub/other.py": "from . import leaf\n",
    })

    graph = import_graph(package)

    assert set(graph["pkg"]) == {"pkg.sub"}  # not itself
    assert set(graph["pkg.sub.other"]) == {"pkg.sub", "pkg.sub.leaf"}


def test_importing_a_submodule_is_an_edge_to_it_alone_not_to_its_packages(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "from pkg.sub.leaf import VALUE\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/leaf.py": "import pkg.sub.other\nVALUE = 1\n",
        "pkg/sub/other.py": "import pkg.sub.leaf as leaf\n",
    })

    graph = import_graph(package)

    assert set(graph["pkg"]) == {"pkg.sub.leaf"}
    assert set(graph["pkg.sub.leaf"]) == {"pkg.sub.other"}
    (report,) = describe_cycles(graph)
    assert "pkg.sub.leaf -> pkg.sub.other -> pkg.sub.leaf" in report


def test_a_lower_layer_importing_an_upper_one_is_named_with_its_line(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/services/__init__.py": "",
        "pkg/services/store.py": "def load():\n    from pkg.models.thing import Thing\n",
        "pkg/models/__init__.py": "",
        "pkg/models/thing.py": "from pkg.services.store import load\n",
    })

    upward = upward_imports(import_graph(package), ["pkg.services"], ["pkg.models"])

    assert upward == ["pkg.services.store -> pkg.models.thing  (pkg/services/store.py:2)"]
