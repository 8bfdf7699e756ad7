"""The package's layers, read from its imports: no import cycle, and imports only point down.

Layers, top to bottom: the user models (``lume_services.flows``, ``.files``,
``.results``, ``.tasks``) and the CLI, then the services
(``lume_services.services``: scheduling, files, results, with their backends),
with the composition root beside them (``lume_services.config``, its face, and
``settings``, ``env_vars``, ``composition``), which the models import and which
imports none of them. A module may
import from its own layer or below it, never from above, not even inside a
function.

The import graph is read with ``ast``, not by importing: every ``import`` and
``from ... import`` counts, at module level or inside a function, except those
under ``if TYPE_CHECKING:`` (they never run). ``import a.b.c`` is an edge to
the module ``a.b.c`` only, although Python also runs ``a`` and ``a.b``: a
package's ``__init__`` is a node of its own, reached when an import names the
package (``import a.b``, ``from a.b import name``, ``from a.b import c``, which
is an edge to ``a.b`` and to the submodule ``a.b.c``).

Imports by name count too, since they run the module as an import statement
would: a module named in dependency-injector's wiring (``WiringConfiguration(
modules=[...], packages=[...])``, ``container.wire(modules=[...])``, with the
names given there or in a module-level list), in ``importlib.import_module("...")``,
or in a package face's ``_HOMES`` table of names imported on first use (PEP 562).
So a composition root that wires the models by name has an edge to each of
them, and a cycle or an upward import through wiring is seen like any other.
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


def _strings(node: Optional[ast.expr], lists: Dict[str, List[str]]) -> List[str]:
    """The module names an argument gives: a list or tuple of strings, or a module-level list of them."""
    if isinstance(node, ast.Name):
        return lists.get(node.id, [])
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _imports_by_name(tree: ast.Module, name: str, known: Set[str]) -> List[Tuple[str, int]]:
    """``(module, line)`` for each module this one imports by name: wiring, ``import_module``, ``_HOMES``."""
    lists = {
        target.id: _strings(node.value, {})
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    found: List[Tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if called in ("WiringConfiguration", "wire"):
            for keyword in node.keywords:
                for module in _strings(keyword.value, lists):
                    if keyword.arg == "modules":
                        found.append((module, node.lineno))
                    elif keyword.arg == "packages":  # wiring a package imports every module under it
                        found.extend((m, node.lineno) for m in sorted(known) if m == module or m.startswith(module + "."))
        elif called == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            found.append((str(node.args[0].value), node.lineno))
    has_getattr = any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body) or any(
        isinstance(t, ast.Name) and t.id == "__getattr__"  # ``__getattr__, __dir__ = lazy_names(...)``
        for n in tree.body if isinstance(n, ast.Assign) for target in n.targets
        for t in (target.elts if isinstance(target, ast.Tuple) else [target])
    )
    for node in tree.body:
        if has_getattr and isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
            isinstance(t, ast.Name) and t.id == "_HOMES" for t in node.targets
        ):
            homes = {v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
            found.extend((f"{name}.{home}", node.lineno) for home in sorted(homes))
    return found


def imports_of(name: str, path: Path, known: Set[str], root: Path) -> List[Import]:
    """The imports of one module that name modules in ``known``, by statement or by name."""
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
    for target, line in _imports_by_name(tree, name, known):
        imported = _deepest_module(target, known)
        if imported is not None and imported != name:
            edges.append(Import(name, imported, shown, line))
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


#: the composition root: its face, the settings schema, the variable table, the builders and container
ROOT = ["lume_services.config", "lume_services.settings", "lume_services.env_vars", "lume_services.composition"]


def test_the_composition_root_imports_no_model_no_example_and_no_cli_module_not_even_to_wire_it(graph):
    upward = upward_imports(graph, ROOT, USER_MODELS + ["lume_services.examples"] + CLI)
    assert not upward, "the composition root imports (or wires by name) the models:\n" + "\n".join(upward)


def _provide_defaults(path: Path) -> List[Tuple[str, List[str]]]:
    """``(function, its decorators)`` for each function of a module with a ``Provide[...]`` default."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            if any(isinstance(d, ast.Subscript) and getattr(d.value, "id", "") == "Provide" for d in defaults):
                found.append((node.name, [ast.unparse(d) for d in node.decorator_list]))
    return found


def test_the_wired_modules_are_those_with_provide_markers_and_each_wires_itself_on_first_call(graph):
    """Wiring is an edge like an import: a wired module imports ``inject`` from the root, whose
    first call wires that module; the root names no module to wire (the test above)."""
    from lume_services.composition import WIRED_MODULES

    modules = module_names(PACKAGE_DIR)
    marked = {name: found for name, path in modules.items() if (found := _provide_defaults(path))}
    assert sorted(marked) == sorted(WIRED_MODULES)
    for name, functions in marked.items():
        assert "lume_services.composition" in graph[name], f"{name} does not import the root's inject"
        not_ours = [fn for fn, decorators in functions if "inject" not in decorators]
        assert not not_ours, f"{name}: {not_ours} have Provide defaults but not the root's @inject"
        text = modules[name].read_text(encoding="utf-8")
        assert "from lume_services.composition import Context, inject" in text
        assert "from dependency_injector.wiring import Provide\n" in text  # not dependency-injector's inject


BACKENDS = ["lume_services.services.scheduling.backends"]


def test_no_user_model_imports_anything_under_backends(graph):
    """The models reach a backend only through ``SchedulingService``: the vocabulary
    they share with backends lives beside the service, not under ``backends/``."""
    reaching = upward_imports(graph, USER_MODELS + ["lume_services.examples"], BACKENDS)
    assert not reaching, "a user model imports a backend module:\n" + "\n".join(reaching)


#: the size a module or a folder may grow to before it is two of them
MAX_MODULE_LINES = 600
MAX_FOLDER_MODULES = 15
# nothing is being split now
PENDING_SPLIT: set = set()


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


def test_modules_wired_or_imported_by_name_are_edges(tmp_path):
    package = write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/root.py": (
            "from dependency_injector import containers\n"
            "WIRED = ['pkg.models.thing']\n"
            "class C(containers.DeclarativeContainer):\n"
            "    wiring_config = containers.WiringConfiguration(modules=WIRED, packages=['pkg.more'])\n"
            "def later(c):\n    import importlib\n    importlib.import_module('pkg.other')\n"
        ),
        "pkg/models/__init__.py": "",
        "pkg/models/thing.py": "from pkg.root import C\n",
        "pkg/more/__init__.py": "",
        "pkg/more/leaf.py": "",
        "pkg/other.py": "",
        "pkg/face/__init__.py": "_HOMES = {'Thing': 'impl'}\ndef __getattr__(name):\n    pass\n",
        "pkg/face/impl.py": "",
        "pkg/lazy/__init__.py": (  # a face whose __getattr__ comes from lazy_names
            "from lume_services._lazy_face import lazy_names\n"
            "_HOMES = {'Thing': 'impl'}\n__getattr__, __dir__ = lazy_names(__name__, _HOMES)\n"
        ),
        "pkg/lazy/impl.py": "",
    })

    graph = import_graph(package)

    assert set(graph["pkg.root"]) == {"pkg.models.thing", "pkg.more", "pkg.more.leaf", "pkg.other"}
    assert set(graph["pkg.face"]) == {"pkg.face.impl"}
    assert set(graph["pkg.lazy"]) == {"pkg.lazy.impl"}
    (report,) = describe_cycles(graph)
    assert "pkg.models.thing -> pkg.root -> pkg.models.thing" in report


# --- the architecture page matches the tree ---------------------------------------

ARCHITECTURE_PAGE = PACKAGE_DIR.parent / "docs" / "architecture.md"


def _paths_named(text: str) -> List[str]:
    import re

    return [t for t in re.findall(r"`([A-Za-z0-9_./-]+)`", text) if "/" in t and (t.endswith(".py") or t.endswith("/"))]


def test_every_path_the_architecture_page_names_exists():
    # a path is named from the package, from the checkout, or (inside the scheduling service's section) from it
    bases = [PACKAGE_DIR, PACKAGE_DIR.parent, PACKAGE_DIR / "services" / "scheduling"]
    missing = [p for p in _paths_named(ARCHITECTURE_PAGE.read_text()) if not any((b / p).exists() for b in bases)]
    assert not missing, f"docs/architecture.md names paths that are not in the tree: {missing}"


def test_the_architecture_page_names_every_module_of_the_scheduling_service():
    text = ARCHITECTURE_PAGE.read_text()
    scheduling = PACKAGE_DIR / "services" / "scheduling"
    unnamed = [
        str(path.relative_to(PACKAGE_DIR)) for path in sorted(scheduling.rglob("*.py"))
        if path.name != "__init__.py" and str(path.relative_to(PACKAGE_DIR)) not in text
        and "files" not in path.relative_to(scheduling).parts  # LUME-services' path, a re-export package
    ]
    assert not unnamed, f"docs/architecture.md does not name: {unnamed}"
