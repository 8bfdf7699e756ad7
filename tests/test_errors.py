"""The errors' design: one root, a base class per family, messages built from structured facts."""

import ast
import inspect
from pathlib import Path

import pytest

import lume_services
from lume_services import errors
from lume_services.errors import (
    BaseImageNotFoundError,
    DockerError,
    ExposedParameterClashError,
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
    ServerError,
    StorageError,
    UnsupportedRunConfigError,
)

PACKAGE = Path(lume_services.__file__).parent

ERROR_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(errors, inspect.isclass)
     if cls.__module__ == errors.__name__ and issubclass(cls, BaseException)),
    key=lambda cls: cls.__name__,
)
ERROR_NAMES = {cls.__name__ for cls in ERROR_CLASSES}

FAMILIES = {
    FlowOfFlowsError: [
        "ParentFlowNotInFlowsError",
        "UnknownMapTypeError",
        "MissingDBAttributeError",
        "InvalidFlowOfFlowsError",
        "MissingDeclarationKeyError",
        "MalformedDeclarationError",
        "ComposingFlowNameMismatchError",
        "ExposedParameterClashError",
        "FlowOfFlowsFileNotFoundError",
        "UnknownDeclarationKeyError",
        "KeyNotForMapTypeError",
        "DuplicateDeclarationKeyError",
        "DeclarationYAMLError",
        "InvalidDeclarationNameError",
        "NoComposingFlowsError",
        "InvalidDeclarationValueError",
        "DuplicateFlowNameError",
        "FlowCycleError",
        "FlowOfFlowsNotComposedError",
        "DeclarationTooLargeError",
        "InvalidCacheOptionError",
        "RunNotOfFlowOfFlowsError",
        "ChildVersionChangedError",
        "FlowOfFlowsFeatureNotOnBackendError",
        "InvalidMapOverError",
    ],
    ServerError: [
        "ServerUnreachableError",
        "ServerRequestError",
        "FlowRunTimeoutError",
        "FlowNotRegisteredError",
        "FlowIdNotFoundError",
        "FlowNotRegistrableError",
        "ServerReplyError",
        "FlowRegistrationError",
    ],
    DockerError: [
        "DockerEngineUnavailableError",
        "ImageBuildError",
        "BaseImageNotFoundError",
        "PythonVersionMismatchError",
        "FlowCodeNotImportableError",
        "ImageTransferError",
    ],
    StorageError: [
        "UntrustedStoreError",
        "StoreUnusableError",
    ],
    ModelDBError: [
        "ModelNotFoundError",
        "DeploymentNotFoundError",
        "ProjectNotFoundError",
        "FlowNotInModelDBError",
        "DeploymentNotRegisteredError",
        "ModelDBConflictError",
        "ModelDBUnreachableError",
        "FlowAlreadyDeployedError",
    ],
}
MEMBERS = [(family, name) for family, names in FAMILIES.items() for name in names]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_derives_from_lume_services_error(cls):
    assert issubclass(cls, LUMEServicesError)


@pytest.mark.parametrize("family, name", MEMBERS, ids=[f"{f.__name__}-{n}" for f, n in MEMBERS])
def test_each_family_base_catches_its_members(family, name):
    assert issubclass(getattr(errors, name), family)


@pytest.mark.parametrize("family", list(FAMILIES), ids=lambda f: f.__name__)
def test_no_class_outside_a_family_is_caught_by_its_base(family):
    # a family's list above is complete: a new member must be added there, and so named in the docs
    caught = {cls.__name__ for cls in ERROR_CLASSES if issubclass(cls, family) and cls is not family}
    assert caught == set(FAMILIES[family])


@pytest.mark.parametrize("family", list(FAMILIES), ids=lambda f: f.__name__)
def test_no_error_that_a_pydantic_validator_may_raise_is_wrapped_by_pydantic(family):
    # pydantic 1 turns ValueError, TypeError and AssertionError raised in a validator into
    # a ValidationError; a flow of flows' root validator must raise its own classes
    for cls in ERROR_CLASSES:
        if issubclass(cls, family):
            assert not issubclass(cls, (ValueError, TypeError, AssertionError)), cls


def test_a_family_base_catches_a_raised_member():
    with pytest.raises(FlowOfFlowsError):
        raise MalformedDeclarationError(3, part="composing_flows")
    with pytest.raises(ServerError):
        raise FlowRunTimeoutError("run-1", 4, "Running")
    with pytest.raises(DockerError):
        raise PythonVersionMismatchError("img:1", "base:1", "3.11", "2.7")


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
        if path.name == "errors.py" and path.parent == PACKAGE:
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
