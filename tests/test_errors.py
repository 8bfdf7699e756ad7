"""The errors' design: one root, a base class per family true to where its errors are raised, messages built from structured facts."""

import ast
import importlib
import inspect
import pickle
import re
from pathlib import Path, PurePosixPath

import pytest

import lume_services
from lume_services import errors
from lume_services.errors import (
    BaseImageNotFoundError,
    ConfigurationError,
    DockerError,
    ExposedParameterClashError,
    FileError,
    FlowNotLoadedError,
    FlowOfFlowsError,
    FlowOfFlowsNotComposedError,
    FlowRunTimeoutError,
    ImageBuildError,
    InvalidFlowOfFlowsError,
    LUMEServicesError,
    MalformedDeclarationError,
    ModelDBError,
    MissingDeclarationKeyError,
    PythonVersionMismatchError,
    ResultsError,
    RunError,
    RunHistoryCorruptError,
    ServerError,
    StateTooLargeError,
    StorageError,
    UnsupportedRunConfigError,
)

PACKAGE = Path(lume_services.__file__).parent

ERROR_CLASSES = sorted(
    (getattr(errors, name) for name in errors.__all__
     if inspect.isclass(getattr(errors, name)) and issubclass(getattr(errors, name), BaseException)),
    key=lambda cls: cls.__name__,
)
ERROR_NAMES = {cls.__name__ for cls in ERROR_CLASSES}

# A family's base is a direct subclass of the root whose docstring says it is a base class.
FAMILIES = [
    cls for cls in ERROR_CLASSES
    if cls.__bases__ == (LUMEServicesError,) and (cls.__doc__ or "").startswith("Base class of")
]
ROOT_LEVEL = [
    cls for cls in ERROR_CLASSES
    if cls is not LUMEServicesError and cls not in FAMILIES and not any(issubclass(cls, f) for f in FAMILIES)
]


def _families_of(cls):
    return [family for family in FAMILIES if issubclass(cls, family)]


# --- the public face ---------------------------------------------------------------------


def test_the_package_exports_every_error_class_it_defines_under_its_own_name():
    defined = {
        node.name
        for path in (PACKAGE / "errors").glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    }
    assert defined == ERROR_NAMES == set(errors.__all__)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_names_the_public_package_as_its_module(cls):
    # tracebacks read lume_services.errors.X, and pickles name that path, whichever private module defines X
    assert cls.__module__ == "lume_services.errors"
    assert getattr(importlib.import_module(cls.__module__), cls.__qualname__) is cls


def test_the_original_names_are_importable_from_lume_services_errors():
    from lume_services.errors import (  # noqa: F401  (LUME-services' names, docs/compatibility.md)
        EmptyResultError,
        EnvironmentNotConfiguredError,
        FlowFailedError,
        FlowNotFoundError,
        FlowOfFlowsNotFoundError,
        LocalBackendError,
        ParameterNotInFlowError,
        ParentFlowNotInFlowsError,
        PathNotInMount,
        TaskNotCompletedError,
        TaskNotInFlowError,
    )


# --- families ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_derives_from_lume_services_error(cls):
    assert issubclass(cls, LUMEServicesError)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_is_in_at_most_one_family(cls):
    assert len(_families_of(cls)) <= 1, _families_of(cls)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_a_class_with_subclasses_names_each_direct_subclass_in_its_docstring(cls):
    # so a family's docstring describes its members, and the root's names the root-level errors
    direct = [sub.__name__ for sub in cls.__subclasses__() if sub.__name__ in ERROR_NAMES]
    doc = cls.__doc__ or ""
    assert [name for name in direct if not re.search(rf"\b{name}\b", doc)] == []


def test_the_package_docstring_names_every_family():
    assert [f.__name__ for f in FAMILIES if f":class:`{f.__name__}`" not in errors.__doc__] == []


FLOWS_PAGE = (PACKAGE.parent / "docs" / "flows.md").read_text()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda cls: cls.__name__)
def test_the_docs_table_of_families_names_every_member(family):
    # a member is named in its family's row, itself or through a base named there ("and its subclasses")
    row = next((line for line in FLOWS_PAGE.splitlines() if line.startswith(f"| `{family.__name__}` |")), "")
    members = [cls for cls in ERROR_CLASSES if issubclass(cls, family) and cls is not family]
    unnamed = [
        cls.__name__ for cls in members
        if not any(f"`{base.__name__}`" in row for base in cls.__mro__ if base in members)
    ]
    assert row and unnamed == []


def test_the_docs_name_every_root_level_error():
    assert [cls.__name__ for cls in ROOT_LEVEL if f"`{cls.__name__}`" not in FLOWS_PAGE] == []


def test_a_family_base_catches_a_raised_member():
    with pytest.raises(FlowOfFlowsError):
        raise MalformedDeclarationError(3, part="composing_flows")
    with pytest.raises(RunError):
        raise FlowRunTimeoutError("run-1", 4, "Running")
    with pytest.raises(DockerError):
        raise PythonVersionMismatchError("img:1", "base:1", "3.11", "2.7")
    with pytest.raises(ServerError):
        raise StateTooLargeError("f", "parameter 'x'", 2_000_000, 1_000_000, kept="kept")
    with pytest.raises(StorageError):
        raise RunHistoryCorruptError("/tmp/runs.sqlite", "not a database")


# --- family membership, derived from where each error is raised ---------------------------
#
# Each module of the package carries tags saying whose it is. The rules below read them for
# BOTH layouts of the scheduling backends: the flat one (backends/server_runs.py,
# backends/docker_engine.py, backends/run_history.py) and the one by owner
# (backends/server/runs.py, backends/images/engine.py, backends/local/run_history.py), by the
# path below backends/. The flow registry is the local backend's, not a "store" here: its
# storage failures are raised by the store kit (storage.py), and what it raises itself is about
# the flow it is given (not found, cannot be pickled).

_SERVER_MODULES = {"server", "docker", "kubernetes", "local_agent", "prefect_config"}
_IMAGE_MODULES = {"docker_engine", "runtime_image", "flow_images"}
_LOCAL_MODULES = {"local", "registry", "run_history", "run_recorder", "executors"}
_HISTORY_MODULES = {"run_history", "run_records", "run_recorder", "server_history", "server/history"}
_CONFIG_MODULES = {"config", "settings", "env_vars", "composition"}


def tags_of(relative: str) -> set:
    """The tags of a module, by its path relative to the package (``services/scheduling/backends/server_runs.py``)."""
    parts = PurePosixPath(relative).with_suffix("").parts
    tags = set()
    if parts[:2] == ("services", "scheduling"):
        tags.add("scheduling")
        key = "/".join(parts[3:]) if parts[2:3] == ("backends",) else ""
        if key in _SERVER_MODULES or key.startswith(("server_", "server/")):
            tags.add("server")
        elif key in _IMAGE_MODULES or key.startswith("images/"):
            tags |= {"server", "images"}  # images are built for the docker and kubernetes backends
        elif key in _LOCAL_MODULES or key.startswith("local/"):
            tags.add("local")
        else:
            tags.add("neutral")  # the service and the vocabulary every backend shares
        if key in {"run_history", "local/run_history"}:
            tags.add("stores")
        if key in {"registry", "local/registry"}:
            # a store, whose other errors are about the flow (FlowNotSerializableError): it
            # may raise a StorageError, but what only it raises is not one for that
            tags.add("registry")
        if key in _HISTORY_MODULES or parts[-1] in _HISTORY_MODULES:
            tags.add("history")
    elif parts == ("storage",):
        tags.add("stores")  # the kit of the embedded stores
    elif parts[0] == "flows":
        tags.add("flows")
        if parts[-1] in {"_spec", "_graph"}:
            tags.add("flow_of_flows_declaration")
    elif parts[0] == "results" or parts[:2] == ("services", "results") or parts[:2] == ("tasks", "db"):
        tags.add("results")
    elif parts[0] == "files" or parts[:2] == ("services", "files"):
        tags.add("files")
    elif parts[0] == "models" or parts[:2] == ("services", "models"):
        tags.add("models")
    elif parts[0] in _CONFIG_MODULES:
        tags.add("config")
    elif parts[0] == "environment":
        tags.add("environment")  # the environment solver: model packages
    elif parts[0] == "docker":
        tags.add("services_stack")  # lume-services docker ...: the compose stack
    return tags


# An error raised only in modules with this tag is in one of these families.
FAMILY_OF_PLACE = {
    "images": ("DockerError",),
    "server": ("ServerError", "DockerError"),
    "stores": ("StorageError",),
    "history": ("RunError", "StorageError"),
    "flow_of_flows_declaration": ("FlowOfFlowsError",),
    "results": ("ResultsError",),
    "files": ("FileError",),
    "models": ("ModelDBError",),
    "config": ("ConfigurationError",),
    "environment": ("ModelPackageError",),
    "services_stack": ("ServicesError",),
}

# A member of this family is raised only in modules with one of these tags.
PLACES_OF_FAMILY = {
    "ServerError": {"server", "flows"},  # flows/: a model's check of what a server keeps (see the Raises rule)
    "DockerError": {"images"},
    "StorageError": {"stores", "registry"},
    "RunError": {"scheduling", "flows"},
    "FlowOfFlowsError": {"flows"},
    "ResultsError": {"results"},
    "FileError": {"files"},
    "ModelDBError": {"models"},
    "ConfigurationError": {"config"},
    "ModelPackageError": {"environment"},
    "ServicesError": {"services_stack"},
}


def _error_name(node: ast.AST):
    if isinstance(node, ast.Name) and node.id in ERROR_NAMES:
        return node.id
    if isinstance(node, ast.Attribute) and node.attr in ERROR_NAMES:
        return node.attr
    return None


def raise_sites(tree: ast.AST) -> set:
    """The errors a module raises: built (``raise X(...)``, ``warnings.warn(X(...))``), raised as a
    class (``raise X``), or handed to a helper that raises it (``parse_reference(value, keys, X)``).
    Catching (``except X``) and testing (``isinstance(exc, X)``) are not raising."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None and _error_name(node.exc):
            found.add(_error_name(node.exc))
        if isinstance(node, ast.Call):
            if _error_name(node.func):
                found.add(_error_name(node.func))
            elif not (isinstance(node.func, ast.Name) and node.func.id in {"isinstance", "issubclass"}):
                arguments = list(node.args) + [keyword.value for keyword in node.keywords]
                found |= {_error_name(a) for a in arguments if _error_name(a)}
    return found


def _sites_by_error():
    sites = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("errors/"):
            continue  # where errors are defined, not raised
        for name in raise_sites(ast.parse(path.read_text(), filename=str(path))):
            sites.setdefault(name, set()).add(relative)
    return sites


SITES = _sites_by_error()


def _documented_on_a_server():
    """Errors a docstring's ``Raises:`` says are raised "on a server" (a model checking what a server keeps)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for match in re.finditer(r"^\s*(\w+): on a (?:Prefect )?server\b", ast.get_docstring(node) or "", re.M):
                    if match.group(1) in ERROR_NAMES:
                        found.setdefault(match.group(1), set()).add(path.relative_to(PACKAGE).as_posix())
    return found


ON_A_SERVER = _documented_on_a_server()


def test_the_raise_sites_are_found_built_raised_or_handed_to_a_helper():
    tree = ast.parse(
        "raise FlowNotFoundError(a, b, c)\n"
        "warnings.warn(errors.UnknownSettingWarning(name))\n"
        "parse_reference(value, KEYS, InvalidFileReferenceError)\n"
        "raise StorageError\n"
        "try:\n    pass\nexcept RunNotFoundError:\n    pass\n"
        "isinstance(exc, FlowFailedError)\n"
    )
    assert raise_sites(tree) == {
        "FlowNotFoundError", "UnknownSettingWarning", "InvalidFileReferenceError", "StorageError",
    }


LAYOUTS = [
    # (old flat path, path in the layout by owner, tags)
    ("services/scheduling/backends/server_runs.py", "services/scheduling/backends/server/runs.py", {"server"}),
    ("services/scheduling/backends/server.py", "services/scheduling/backends/server/backend.py", {"server"}),
    ("services/scheduling/backends/local_agent.py", "services/scheduling/backends/server/local_agent.py", {"server"}),
    ("services/scheduling/backends/prefect_config.py", "services/scheduling/backends/server/prefect_config.py", {"server"}),
    ("services/scheduling/backends/server_history.py", "services/scheduling/backends/server/history.py", {"server", "history"}),
    ("services/scheduling/backends/docker.py", "services/scheduling/backends/docker.py", {"server"}),
    ("services/scheduling/backends/kubernetes.py", "services/scheduling/backends/kubernetes.py", {"server"}),
    ("services/scheduling/backends/docker_engine.py", "services/scheduling/backends/images/engine.py", {"server", "images"}),
    ("services/scheduling/backends/flow_images.py", "services/scheduling/backends/images/flow_images.py", {"server", "images"}),
    ("services/scheduling/backends/local.py", "services/scheduling/backends/local/backend.py", {"local"}),
    ("services/scheduling/backends/registry.py", "services/scheduling/backends/local/registry.py", {"local", "registry"}),
    ("services/scheduling/backends/executors.py", "services/scheduling/backends/local/executors.py", {"local"}),
    ("services/scheduling/backends/run_history.py", "services/scheduling/backends/local/run_history.py",
     {"local", "stores", "history"}),
    ("services/scheduling/backends/run_records.py", "services/scheduling/run_records.py", {"neutral", "history"}),
    ("services/scheduling/backends/waiting.py", "services/scheduling/waiting.py", {"neutral"}),
    ("services/scheduling/backends/backend.py", "services/scheduling/backend.py", {"neutral"}),
]


@pytest.mark.parametrize("old, new, tags", LAYOUTS, ids=[old.split("/")[-1] for old, _, _ in LAYOUTS])
def test_a_module_has_the_same_tags_in_the_flat_layout_and_the_layout_by_owner(old, new, tags):
    assert tags_of(old) == tags_of(new) == tags | {"scheduling"}


def test_every_place_of_a_rule_is_a_module_of_the_package_today():
    # a rule matching no module would pass for nothing (after a module moved, say)
    present = set().union(*(tags_of(p.relative_to(PACKAGE).as_posix()) for p in PACKAGE.rglob("*.py")))
    used = set(FAMILY_OF_PLACE) | set().union(*PLACES_OF_FAMILY.values())
    assert used - present == set()


def test_every_family_says_where_its_members_are_raised():
    assert set(PLACES_OF_FAMILY) == {f.__name__ for f in FAMILIES}


RAISED = sorted(SITES)


@pytest.mark.parametrize("name", RAISED)
def test_an_error_raised_only_in_one_place_is_in_that_places_family(name):
    wrong = []
    for tag, families in FAMILY_OF_PLACE.items():
        if all(tag in tags_of(site) for site in SITES[name]):
            if not any(issubclass(getattr(errors, name), getattr(errors, family)) for family in families):
                wrong.append(f"raised only in {tag} modules ({sorted(SITES[name])}), so one of {families}")
    assert wrong == []


@pytest.mark.parametrize("name", RAISED)
def test_a_family_member_is_raised_only_where_its_family_says(name):
    for family in _families_of(getattr(errors, name)):
        allowed = PLACES_OF_FAMILY[family.__name__]
        outside = sorted(site for site in SITES[name] if not tags_of(site) & allowed)
        assert outside == [], f"a {family.__name__} is raised only in {sorted(allowed)} modules"


@pytest.mark.parametrize("name", sorted(ON_A_SERVER))
def test_an_error_documented_as_raised_on_a_server_is_a_server_error(name):
    assert issubclass(getattr(errors, name), ServerError), sorted(ON_A_SERVER[name])


def test_the_rules_see_the_errors_only_a_server_raises_and_those_both_backends_raise():
    # the derivation is not vacuous: it finds these where they are raised today
    server_only = {n for n in SITES if all("server" in tags_of(s) for s in SITES[n])}
    assert {"FlowVersionArchivedError", "EmptyLabelsError", "SecretInRunConfigError",
            "TaskResultTooLargeError"} <= server_only
    # a composed run checks its children's values and deadline inside the flow (flows/_child_runs.py)
    assert {"ChildFlowArchivedError", "FlowNotRegistrableError", "StateTooLargeError",
            "ChildRunTimeoutError"} <= set(ON_A_SERVER)
    both = {n for n in SITES if any("local" in tags_of(s) for s in SITES[n])
            and any("server" in tags_of(s) for s in SITES[n])}
    assert "FlowRunTimeoutError" in both and not issubclass(FlowRunTimeoutError, ServerError)
    assert all("stores" in tags_of(s) for s in SITES["RunHistoryCorruptError"])


@pytest.mark.parametrize("cls", ROOT_LEVEL, ids=lambda cls: cls.__name__)
def test_an_error_in_no_family_is_a_documented_root_level_error(cls):
    assert re.search(rf"\b{cls.__name__}\b", LUMEServicesError.__doc__)


@pytest.mark.parametrize("name", RAISED)
def test_no_error_a_user_model_raises_is_wrapped_by_pydantic(name):
    # pydantic 1 turns ValueError, TypeError and AssertionError raised in a validator into a
    # ValidationError; the models (flows, files, results, tasks, models) must raise their own classes
    models = ("flows/", "files/", "results/", "tasks/", "models/")
    if any(site.startswith(models) for site in SITES[name]):
        assert not issubclass(getattr(errors, name), (ValueError, TypeError, AssertionError))


# --- pickling -----------------------------------------------------------------------------

EXAMPLES = {
    "InvalidCacheOptionError": lambda: errors.InvalidCacheOptionError("fof", ["x"], unknown=["x"], valid=["a"]),
    "InvalidMapOverError": lambda: errors.InvalidMapOverError("child", ["y"], ["x"]),
    "RunNotOfFlowOfFlowsError": lambda: errors.RunNotOfFlowOfFlowsError("run-1", "fof", "other"),
    "ChildVersionChangedError": lambda: errors.ChildVersionChangedError("fof", "run-1", {"a": ("id-1", "id-2")}),
    "FlowOfFlowsFeatureNotOnBackendError": lambda: errors.FlowOfFlowsFeatureNotOnBackendError("cache", "per_child"),
    "LineageNotFoundError": lambda: errors.LineageNotFoundError("abc", where="/tmp/runs.sqlite"),
    "LUMEServicesError": lambda: LUMEServicesError("something went wrong"),
    "ExecutorNotAvailableError": lambda: errors.ExecutorNotAvailableError("dask", "distributed", "dask", ["local"]),
    "FlowNotFoundError": lambda: errors.FlowNotFoundError("f", "p", ["g"]),
    "FlowNotLoadedError": lambda: FlowNotLoadedError("no flow"),
    "FlowNotSerializableError": lambda: errors.FlowNotSerializableError("f", TypeError("cannot pickle lock")),
    "FlowRegisteredWithOtherPythonError": lambda: errors.FlowRegisteredWithOtherPythonError(
        "adder", "demo", 3, "3.12.1", "3.11.7", "3.0.0"),
    "FlowOfFlowsNotFoundError": lambda: errors.FlowOfFlowsNotFoundError({"name": "fof"}),
    "AmbiguousParentTaskError": lambda: errors.AmbiguousParentTaskError("doubler", "x", "loop", "emit", ["emit-1", "emit-2"]),
    "StoredRecordDamagedError": lambda: errors.StoredRecordDamagedError(
        "registry", "/home/me/.lume/registry.sqlite", "adder", "UnpicklingError: invalid load key", "demo", 2),
    "GraphvizNotFoundError": lambda: errors.GraphvizNotFoundError(format="png"),
    "LocalBackendError": lambda: errors.LocalBackendError("load_flow"),
    "MissingExtraError": lambda: errors.MissingExtraError("HDF5File", "h5py", "files"),
    "MissingParameterError": lambda: errors.MissingParameterError("f", ["x"], ["x", "y"]),
    "ParameterNotInFlowError": lambda: errors.ParameterNotInFlowError("f", ["z"], ["x"], context="a mapping"),
    "TaskNotInFlowError": lambda: errors.TaskNotInFlowError("f", "t", ["u"]),
    "UnsupportedRunConfigError": lambda: UnsupportedRunConfigError("LocalBackend", 3, ["LocalRunConfig"], ["docker"]),
    "FlowOfFlowsError": lambda: FlowOfFlowsError("bad"),
    "ComposingFlowNameMismatchError": lambda: errors.ComposingFlowNameMismatchError("a", "b"),
    "DeclarationTooLargeError": lambda: errors.DeclarationTooLargeError("f.yaml", "levels of nesting", 64, line=70),
    "DeclarationYAMLError": lambda: errors.DeclarationYAMLError("f.yaml", "bad indent", line=3, column=2),
    "DuplicateDeclarationKeyError": lambda: errors.DuplicateDeclarationKeyError("name", "f.yaml", 4, 1, 2),
    "DuplicateFlowNameError": lambda: errors.DuplicateFlowNameError(["a", "a"]),
    "ExposedParameterClashError": lambda: ExposedParameterClashError({"a-b-c": [("a", "b-c"), ("a-b", "c")]}),
    "FlowCycleError": lambda: errors.FlowCycleError(["a", "b"]),
    "FlowOfFlowsFileNotFoundError": lambda: errors.FlowOfFlowsFileNotFoundError("/no/such.yaml"),
    "FlowOfFlowsNotComposedError": lambda: FlowOfFlowsNotComposedError("fof", needed_by="ChildProgress"),
    "InvalidDeclarationNameError": lambda: errors.InvalidDeclarationNameError("a/b", "composing_flow", position=1),
    "InvalidDeclarationValueError": lambda: errors.InvalidDeclarationValueError("f", TypeError("not a list")),
    "InvalidFlowOfFlowsError": lambda: InvalidFlowOfFlowsError("bad"),
    "KeyNotForMapTypeError": lambda: errors.KeyNotForMapTypeError("c", "p", "attribute", "raw", ["db"]),
    "MalformedDeclarationError": lambda: MalformedDeclarationError(42, part="composing_flow", child="adder"),
    "MissingDBAttributeError": lambda: errors.MissingDBAttributeError("c", "p"),
    "MissingDeclarationKeyError": lambda: MissingDeclarationKeyError(["name"], part="composing_flow", position=2),
    "NoComposingFlowsError": lambda: errors.NoComposingFlowsError("fof"),
    "ParentFlowNotInFlowsError": lambda: errors.ParentFlowNotInFlowsError("c", "p", "x", ["a"]),
    "UnknownDeclarationKeyError": lambda: errors.UnknownDeclarationKeyError("nmae", "flow_of_flows", ["name"]),
    "UnknownMapTypeError": lambda: errors.UnknownMapTypeError("p", "blob", child="c"),
    "RunError": lambda: RunError("bad run"),
    "EmptyResultError": lambda: errors.EmptyResultError("f", "t", "Skipped"),
    "FlowFailedError": lambda: errors.FlowFailedError("f", {"t": "boom"}, "Failed", flow_run_id="r"),
    "FlowRunTimeoutError": lambda: FlowRunTimeoutError(None, 2.0, "Running", flow_name="f", local=True),
    "FlowRunProcessEndedError": lambda: errors.FlowRunProcessEndedError("f", "run-2", 42, "SIGKILL", -9,
                                                                        child_of="run-1"),
    "InvalidRunFilterError": lambda: errors.InvalidRunFilterError("limit", -1, "a positive integer"),
    "AmbiguousRunIdError": lambda: errors.AmbiguousRunIdError("5b", ["5b0c-1", "5b9f-2"]),
    "RunNotFoundError": lambda: errors.RunNotFoundError("r", where="/tmp/runs.sqlite"),
    "RunResultNotRecordedError": lambda: errors.RunResultNotRecordedError("r", "t", "too large"),
    "TaskNotCompletedError": lambda: errors.TaskNotCompletedError("t-1", "flow-id", "run-id"),
    "ServerError": lambda: ServerError("down"),
    "ChildFlowArchivedError": lambda: errors.ChildFlowArchivedError("fof", {"a": ("id1", 1, "id2", 2)}),
    "ChildRunTimeoutError": lambda: errors.ChildRunTimeoutError("child", "run-1", 8.0, "Running"),
    "SecretInRunConfigError": lambda: errors.SecretInRunConfigError("LocalRunConfig", ["LUME_X__PASSWORD"]),
    "EmptyLabelsError": lambda: errors.EmptyLabelsError("flow", "Flow", name="f"),
    "FlowIdNotFoundError": lambda: errors.FlowIdNotFoundError("id", "http://server:4200/graphql"),
    "FlowNotRegisteredError": lambda: errors.FlowNotRegisteredError("f"),
    "FlowNotRegistrableError": lambda: errors.FlowNotRegistrableError("f", ["a"], "img:1"),
    "FlowVersionArchivedError": lambda: errors.FlowVersionArchivedError("f", "p", "id1", 1, "id2", 2),
    "RunHistoryNotPrunableError": lambda: errors.RunHistoryNotPrunableError("ServerBackend", "http://s/graphql"),
    "ServerRequestError": lambda: errors.ServerRequestError("http://s/graphql", "refused", flow_id="id"),
    "ServerReplyError": lambda: errors.ServerReplyError("http://s/graphql", "query flow", "the answer is not JSON"),
    "FlowRegistrationError": lambda: errors.FlowRegistrationError("http://s/graphql", "f", "p", "HTTP 500", True),
    "ServerUnreachableError": lambda: errors.ServerUnreachableError("http://s/graphql", "refused", timeout=1.0),
    "StateTooLargeError": lambda: StateTooLargeError("f", "parameter 'x'", 2_000_000, 1_000_000, kept="kept"),
    "TaskResultTooLargeError": lambda: errors.TaskResultTooLargeError("f", "t", 2_000_000, 1_000_000),
    "DockerError": lambda: DockerError("no engine"),
    "BaseImageNotFoundError": lambda: BaseImageNotFoundError("img:1", "python:3.11-slim", role="runtime"),
    "DockerEngineUnavailableError": lambda: errors.DockerEngineUnavailableError("unix:///run/docker.sock", "gone"),
    "FlowCodeNotImportableError": lambda: errors.FlowCodeNotImportableError("img:1", "base:1", "failed", ["l"], "m"),
    "ImageBuildError": lambda: ImageBuildError("img:1", "failed", ["step 1", "step 2"]),
    "ImageTransferError": lambda: errors.ImageTransferError("img:1", "push", "img:1", "denied"),
    "PythonVersionMismatchError": lambda: PythonVersionMismatchError("img:1", "base:1", "3.11", "2.7"),
    "StorageError": lambda: StorageError("store"),
    "RunHistoryCorruptError": lambda: RunHistoryCorruptError("/tmp/runs.sqlite", "not a database"),
    "StoreUnusableError": lambda: errors.StoreUnusableError("registry", "/tmp/r.sqlite", "disk_full", "full"),
    "UntrustedStoreError": lambda: errors.UntrustedStoreError("home", "/tmp/h", "world_writable", 0, 1000),
    "ResultsError": lambda: ResultsError("results"),
    "ImpactNotAvailableError": lambda: errors.ImpactNotAvailableError("archive.h5"),
    "InvalidDocumentError": lambda: errors.InvalidDocumentError([1, 2]),
    "InvalidIndexError": lambda: errors.InvalidIndexError(3, "not a field path"),
    "InvalidResultReferenceError": lambda: errors.InvalidResultReferenceError({"a": 1}, "no query"),
    "MultipleResultsFoundError": lambda: errors.MultipleResultsFoundError("p", {"a": 1}, 2),
    "ResultAttributeError": lambda: errors.ResultAttributeError("Result", "outputz", ["outputs"]),
    "ResultKeyError": lambda: errors.ResultKeyError("outputs", "b", ["a"]),
    "ResultNotFoundError": lambda: errors.ResultNotFoundError("p", {"a": 1}, 0),
    "ResultsDBUnreachableError": lambda: errors.ResultsDBUnreachableError("localhost", 27017, "db", 5.0, "refused"),
    "UnknownResultTypeError": lambda: errors.UnknownResultTypeError("os:system", "not a Result"),
    "UnsupportedQueryError": lambda: errors.UnsupportedQueryError({"$gt": 1}, "operators"),
    "FileError": lambda: FileError("file"),
    "DuplicateFilesystemError": lambda: errors.DuplicateFilesystemError(["local", "local"]),
    "FileHasNoObjectError": lambda: errors.FileHasNoObjectError("a.txt"),
    "FilesystemNotConfiguredError": lambda: errors.FilesystemNotConfiguredError("mounted", ["local"]),
    "InvalidFileReferenceError": lambda: errors.InvalidFileReferenceError({"a": 1}, "no filename"),
    "InvalidMountError": lambda: errors.InvalidMountError("relative/path"),
    "PathNotInMount": lambda: errors.PathNotInMount("/etc/passwd", "/lume/data", "/srv/data", "another absolute path"),
    "UnknownFileTypeError": lambda: errors.UnknownFileTypeError("os:system", "not a File"),
    "NotARegularFileError": lambda: errors.NotARegularFileError("/dev/zero", "a character device", "local"),
    "FileTooLargeError": lambda: errors.FileTooLargeError("/data/big.h5", 2**40, 2**34, "local"),
    "ModelDBError": lambda: errors.ModelDBError("model db"),
    "ModelNotFoundError": lambda: errors.ModelNotFoundError({"model_id": 3}),
    "DeploymentNotFoundError": lambda: errors.DeploymentNotFoundError({"deployment_id": 4}),
    "ProjectNotFoundError": lambda: errors.ProjectNotFoundError({"project_name": "p"}),
    "FlowNotInModelDBError": lambda: errors.FlowNotInModelDBError({"flow_id": "id"}),
    "DeploymentNotRegisteredError": lambda: errors.DeploymentNotRegisteredError(3, 4, [1, 2]),
    "ModelDBConflictError": lambda: errors.ModelDBConflictError("model", {"author": "a"}, "UNIQUE constraint failed"),
    "ModelDBUnreachableError": lambda: errors.ModelDBUnreachableError("mysql://u:***@h/db", "refused"),
    "UnknownColumnError": lambda: errors.UnknownColumnError("model", ["autor"], ["author"]),
    "ModelNotSpecifiedError": lambda: errors.ModelNotSpecifiedError(["name"]),
    "IncompleteDeploymentError": lambda: errors.IncompleteDeploymentError(["version"]),
    "FlowAlreadyDeployedError": lambda: errors.FlowAlreadyDeployedError("f", "id", 2),
    "ConfigurationError": lambda: ConfigurationError("settings"),
    "EnvironmentNotConfiguredError": lambda: errors.EnvironmentNotConfiguredError(["LUME_BACKEND"], TypeError("bad")),
    "UnknownSettingWarning": lambda: errors.UnknownSettingWarning("LUME_BAKEND", suggestion="LUME_BACKEND"),
    "UnknownFilesystemTypeError": lambda: errors.UnknownFilesystemTypeError("os:system", "not a Filesystem"),
    "ParentProjectMismatchError": lambda: errors.ParentProjectMismatchError("c", "p", "a", "elsewhere", "test"),
    "ModelPackageError": lambda: errors.ModelPackageError("package"),
    "ModelSourceNotFoundError": lambda: errors.ModelSourceNotFoundError("/no/model.tar.gz"),
    "UnsupportedModelSourceError": lambda: errors.UnsupportedModelSourceError("m.rpm", "unknown file type '.rpm'"),
    "UnsafeArchiveMemberError": lambda: errors.UnsafeArchiveMemberError("m.tar.gz", "../x", reason="'..' in its path"),
    "WritePermissionError": lambda: errors.WritePermissionError("/root/env"),
    "NoPackagesToInstallError": lambda: errors.NoPackagesToInstallError(),
    "MissingEnvironmentYamlError": lambda: errors.MissingEnvironmentYamlError("/tmp/pkg"),
    "NoCondaEnvironmentFoundError": lambda: errors.NoCondaEnvironmentFoundError(["hdf5"]),
    "UnableToInstallCondaDependenciesError": lambda: errors.UnableToInstallCondaDependenciesError(["hdf5"], "boom"),
    "UnableToInstallPipDependenciesError": lambda: errors.UnableToInstallPipDependenciesError(
        ["m.whl"], "3.11.7", "linux", "No matching distribution"),
    "UnableToIndexLocalChannelError": lambda: errors.UnableToIndexLocalChannelError("/tmp/channel", 1, "boom"),
    "NoFlowFoundInPackageError": lambda: errors.NoFlowFoundInPackageError("m", ["m.model"]),
    "ServicesError": lambda: errors.ServicesError("stack"),
    "ComposeNotAvailableError": lambda: errors.ComposeNotAvailableError({"docker-compose": "not found on PATH"}),
    "ComposeCommandError": lambda: errors.ComposeCommandError(["docker-compose", "up"], 1, "boom"),
    "ServicesNotReadyError": lambda: errors.ServicesNotReadyError({"mongodb": "refused"}, timeout=60.0),
}


def test_every_error_class_has_an_example():
    assert set(EXAMPLES) == ERROR_NAMES


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_error_survives_pickling_with_its_message_and_attributes(name):
    # a flow runner may pickle a failed state with its exception (dask executors)
    exc = EXAMPLES[name]()
    exc.__notes__ = ["a note added where it was caught"]

    copy = pickle.loads(pickle.dumps(exc))

    assert type(copy) is type(exc) and str(copy) == str(exc)
    assert {k: repr(v) for k, v in vars(copy).items()} == {k: repr(v) for k, v in vars(exc).items()}


# --- no prose at raise sites -------------------------------------------------------


def _is_prose(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.BinOp):  # "..." + x, "%s" % x
        return _is_prose(node.left) or _is_prose(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _is_prose(node.func.value)
    return False


def _called_name(call: ast.Call):
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _prose_raises():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE / "errors":
            continue  # where messages are meant to be worded
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            if _called_name(node.exc) in ERROR_NAMES and node.exc.args and _is_prose(node.exc.args[0]):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {_called_name(node.exc)}")
    return found


def test_no_raise_site_words_the_message_of_a_lume_services_error():
    # a message is built in its class from structured arguments; a literal fact goes by keyword
    assert _prose_raises() == []


def test_the_prose_check_sees_an_f_string_and_a_literal(tmp_path):
    tree = ast.parse('raise FlowNotLoadedError(f"no {x}")\nraise ServerError("down")\nraise ServerError(url)\n')
    raises = [node.exc for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    assert [_is_prose(call.args[0]) for call in raises] == [True, True, False]


# --- structured attributes -----------------------------------------------------------


def test_a_missing_declaration_key_keeps_the_keys_and_where_they_are_missing():
    exc = MissingDeclarationKeyError(["parent_task_name"], part="mapped_parameter", child="c", parameter="p")

    assert (exc.keys, exc.part, exc.child, exc.parameter) == (["parent_task_name"], "mapped_parameter", "c", "p")
    assert "mapped parameter 'p' of flow 'c' needs parent_task_name" in str(exc)
    assert "parent_flow_name, parent_task_name and map_type" in str(exc)  # what would be right


def test_a_malformed_declaration_keeps_the_value_its_type_and_the_expected_form():
    exc = MalformedDeclarationError(42, part="composing_flow", child="adder")

    assert (exc.value, exc.got, exc.child) == (42, "int", "adder")
    assert exc.expected == "a mapping with name, project_name and mapped_parameters, or a Flow"
    assert str(exc) == f"composing flow 'adder' must be {exc.expected}; got int"
    assert isinstance(exc, InvalidFlowOfFlowsError)


def test_an_exposed_parameter_clash_keeps_each_name_and_its_owners():
    exc = ExposedParameterClashError({"a-b-c": [("a", "b-c"), ("a-b", "c")]})

    assert exc.clashes == {"a-b-c": [("a", "b-c"), ("a-b", "c")]}
    assert "'a-b-c' from 'b-c' of 'a' and 'c' of 'a-b'" in str(exc)


def test_a_flow_of_flows_not_composed_is_also_a_flow_not_loaded():
    exc = FlowOfFlowsNotComposedError("diamond", needed_by="ChildProgress")

    assert isinstance(exc, FlowNotLoadedError) and isinstance(exc, FlowOfFlowsError)
    assert exc.flow_of_flows_name == "diamond"
    assert "call compose() before creating a ChildProgress" in str(exc)


def test_a_run_timeout_keeps_the_run_its_limit_and_its_state():
    exc = FlowRunTimeoutError("run-1", 4.0, "Running", flow_name="sleeper", waited_for="flow of flows 'sleepy'")

    assert (exc.flow_run_id, exc.timeout, exc.state, exc.flow_name) == ("run-1", 4.0, "Running", "sleeper")
    assert str(exc).startswith(
        "flow run run-1 of flow 'sleeper' did not finish within 4 s (the timeout of flow of flows 'sleepy')"
    )


def test_an_unsupported_run_config_names_the_backend_and_what_it_takes():
    class DockerRunConfig:
        pass

    exc = UnsupportedRunConfigError("LocalBackend", DockerRunConfig(), ["LocalRunConfig"], backends=["docker"])

    assert (exc.backend, exc.run_config_type, exc.accepted) == ("LocalBackend", "DockerRunConfig", ["LocalRunConfig"])
    assert str(exc) == (
        "the LocalBackend cannot honour a DockerRunConfig; it runs flows with a LocalRunConfig, "
        "or configure the docker backend"
    )


def test_a_missing_base_image_is_an_image_build_error_naming_it_and_its_remedy():
    exc = BaseImageNotFoundError(
        "lume-services:latest", "python:3.11-slim", role="runtime",
        local_base_image="lume-services-base:bookworm", registry_base_image="python:3.11-slim",
    )

    assert isinstance(exc, ImageBuildError)
    assert (exc.image, exc.base_image, exc.role, exc.pulled) == ("lume-services:latest", "python:3.11-slim", "runtime", False)
    assert "base image 'python:3.11-slim' does not exist" in str(exc)
    assert "scripts/docker-engine.sh base-image (lume-services-base:bookworm)" in str(exc)
    assert exc.log_lines == []


# --- each malformed declaration is refused with its own class ------------------------


def _declaration(composing_flows):
    return {"name": "fof", "project_name": "p", "composing_flows": composing_flows}


MALFORMED = [
    ("no composing_flows", {"name": "fof"}, MissingDeclarationKeyError, "needs composing_flows: a list of"),
    ("composing_flows not a list", _declaration(42), MalformedDeclarationError, "composing_flows must be a list"),
    ("a child not a mapping", _declaration({"a": 3}), MalformedDeclarationError, "composing flow 'a' must be"),
    ("a child's mappings not a mapping", _declaration([{"name": "a", "mapped_parameters": 3}]),
     MalformedDeclarationError, "mapped_parameters of flow 'a' must be"),
    ("a mapping not a mapping", _declaration([{"name": "a", "mapped_parameters": {"x": 3}}]),
     MalformedDeclarationError, "mapped parameter 'x' of flow 'a' must be"),
    ("a mapping without its parent task", _declaration([{"name": "a", "mapped_parameters": {"x": {"parent_flow_name": "b"}}}]),
     MissingDeclarationKeyError, "mapped parameter 'x' of flow 'a' needs parent_task_name"),
    ("a YAML list", "- a\n- b\n", MalformedDeclarationError, "a flow of flows YAML must be a mapping"),
    ("neither path, YAML nor dict", 42, MalformedDeclarationError, "from_yaml must be a path, a YAML string or a dict"),
    ("a missing file", "/no/such/flow_of_flows.yaml", errors.FlowOfFlowsFileNotFoundError, "does not exist"),
]


@pytest.mark.parametrize("declaration, cls, fragment", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_declaration_is_refused_with_its_own_invalid_flow_of_flows_error(declaration, cls, fragment):
    from lume_services.flows import FlowOfFlows

    with pytest.raises(cls, match=fragment) as info:
        FlowOfFlows.from_yaml(declaration, scheduling_service=None)
    assert isinstance(info.value, InvalidFlowOfFlowsError)


def test_a_flow_keyed_by_another_name_is_refused_naming_both():
    from lume_services.flows import Flow, FlowOfFlows

    with pytest.raises(errors.ComposingFlowNameMismatchError) as info:
        FlowOfFlows.from_yaml(_declaration({"a": Flow(name="b")}), scheduling_service=None)
    assert (info.value.key, info.value.flow_name) == ("a", "b")
