"""Finding the Prefect flows a command names: ``MODULE:FLOW``, every flow of a module, of a file, of a folder.

Importing a flow module runs the user's code: what it prints goes to stderr (stdout
carries the command's one document), and a module that calls ``sys.exit()`` at
import is an input error naming it, not the end of the command (``exit(0)``
would have ended a registration of a whole folder silently, with nothing registered).
"""

import contextlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, List

from lume_services.cli._output import InputError


@dataclass
class FoundFlow:
    """A Prefect flow and where it was found (``MODULE:FLOW`` or ``FILE:FLOW``)."""

    flow: Any
    source: str


def import_module(name: str):
    """Import a module by name, from the current directory too.

    Raises:
        InputError: the module cannot be imported; names it and why.
    """
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    try:
        with _user_code(f"module {name!r}"):
            return importlib.import_module(name)
    except InputError:
        raise
    except Exception as exc:  # SyntaxError, ImportError, or whatever the module raised
        raise InputError(
            f"cannot import module {name!r}: {type(exc).__name__}: {exc}; "
            "run from the directory that holds it or put it on PYTHONPATH"
        ) from exc
    finally:
        sys.path.remove(cwd)


def import_file(path: Path):
    """Import a Python file as a module named after it (its folder is on ``sys.path`` meanwhile).

    Raises:
        InputError: the file cannot be imported; names it and why.
    """
    path = path.resolve()
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != path:
        name = f"{name}_{abs(hash(str(path))):x}"  # another module of that name: keep both
    # a file is executed anew each time (in one process, as in a notebook, it may have changed)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        with _user_code(str(path)):
            spec.loader.exec_module(module)
    except InputError:
        del sys.modules[name]
        raise
    except Exception as exc:
        del sys.modules[name]
        raise InputError(f"cannot import {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.parent))
    return module


@contextlib.contextmanager
def _user_code(what: str):
    """Run a flow module's import: its prints to stderr, its ``sys.exit()`` an input error."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as exc:
        raise InputError(
            f"{what} called sys.exit({exc.code!r}) while being imported; a flow module must not "
            "exit at import: put its script part under `if __name__ == \"__main__\":`"
        ) from None


def _is_flow(value: Any) -> bool:
    from prefect import Flow as PrefectFlow

    return isinstance(value, PrefectFlow)


def flows_in(module, source: str) -> List[FoundFlow]:
    """Every ``prefect.Flow`` a module defines at its top level, once each."""
    found, seen = [], set()
    for attr, value in vars(module).items():
        if _is_flow(value) and id(value) not in seen:
            seen.add(id(value))
            found.append(FoundFlow(value, f"{source}:{attr}"))
    return found


def flow_from_spec(spec: str) -> FoundFlow:
    """The flow ``MODULE:FLOW`` names.

    Raises:
        click.BadParameter: ``spec`` is not ``MODULE:FLOW`` (exit 2).
        InputError: the module cannot be imported, has no such attribute, or it is not a flow.
    """
    import click

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(f"{spec!r} is not MODULE:ATTRIBUTE (for example my_flows:doubler)", param_hint="FLOW")
    module = import_module(module_name)
    if not hasattr(module, attr):
        flows = [f.source.partition(":")[2] for f in flows_in(module, module_name)]
        raise InputError(
            f"module {module_name!r} has no attribute {attr!r}; its flows: {', '.join(flows) or 'none'}"
        )
    value = getattr(module, attr)
    if not _is_flow(value):
        raise InputError(
            f"{spec} is a {type(value).__name__}, not a prefect.Flow; name the Flow built "
            f"with 'with Flow(...) as {attr}:' (lume_services Flow models: pass their prefect_flow)"
        )
    return FoundFlow(value, spec)


def python_files(path: Path) -> List[Path]:
    """``path`` itself, or the ``.py`` files under a folder (hidden folders and caches left out)."""
    if path.is_file():
        return [path]
    files = []
    for file in sorted(path.rglob("*.py")):
        parts = file.relative_to(path).parts[:-1]
        if any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        files.append(file)
    return files


def collect(specs: Iterable[str], modules: Iterable[str], paths: Iterable[str]) -> List[FoundFlow]:
    """Every flow named by ``MODULE:FLOW`` specs, found in modules and in files or folders.

    Raises:
        InputError: nothing was named, a source holds no flow, cannot be
            imported, or two flows found share a name.
    """
    found: List[FoundFlow] = [flow_from_spec(s) for s in specs]
    for name in modules:
        module_flows = flows_in(import_module(name), name)
        if not module_flows:
            raise InputError(f"module {name!r} defines no prefect.Flow at its top level")
        found += module_flows
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"path {raw!r} does not exist; give a Python file or a folder of them")
        files = python_files(path)
        path_flows = [f for file in files for f in flows_in(import_file(file), str(file))]
        if not path_flows:
            raise InputError(f"{raw} holds no prefect.Flow (looked in {len(files)} Python file(s))")
        found += path_flows
    if not found:
        raise InputError("no flows named: give MODULE:FLOW, -m MODULE or -p FILE_OR_DIR")
    unique, seen = [], {}
    for f in found:
        if id(f.flow) in seen:
            continue
        other = next((u for u in unique if u.flow.name == f.flow.name), None)
        if other is not None:
            raise InputError(
                f"two flows are named {f.flow.name!r}: {other.source} and {f.source}; flows are "
                "registered by name, so give each its own"
            )
        seen[id(f.flow)] = f
        unique.append(f)
    return unique
