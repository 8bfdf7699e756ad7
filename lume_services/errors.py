"""Errors raised by lume-services.

One class per failure a user can act on. Every message names what is wrong and
what would be right (the flow's parameters, its tasks, the configured
filesystems, ...). All classes derive from :class:`LUMEServicesError`.

These errors deliberately do not derive from ``ValueError``: pydantic 1 wraps
``ValueError`` raised inside validators into a generic ``ValidationError``,
and a flow of flows must refuse bad compositions with the specific class.
"""

from typing import Iterable, List, Optional, Sequence


def _names(names: Iterable[str]) -> str:
    names = sorted(str(n) for n in names)
    return ", ".join(repr(n) for n in names) if names else "(none)"


class LUMEServicesError(Exception):
    """Base class of every error raised by lume-services."""


# --- configuration -----------------------------------------------------------


class EnvironmentNotConfiguredError(LUMEServicesError):
    """The ``LUME_*`` environment variables do not form valid settings.

    Args:
        env_vars: every environment variable lume-services reads.
        validation_error: the pydantic error describing what is invalid.
    """

    def __init__(self, env_vars: Sequence[str], validation_error: Exception):
        self.env_vars = list(env_vars)
        self.validation_error = validation_error
        super().__init__(
            "lume-services could not be configured from the environment: "
            f"{validation_error}\nVariables read: {', '.join(self.env_vars)}"
        )


class ExecutorNotAvailableError(LUMEServicesError):
    """An executor was requested whose optional dependency is not installed."""


class UnsupportedRunConfigError(LUMEServicesError):
    """The scheduling backend cannot honour this kind of run config."""


# --- flows and registry ------------------------------------------------------


class FlowNotFoundError(LUMEServicesError):
    """No flow with this name is registered in the project.

    Args:
        flow_name: the name looked up.
        project_name: the project searched.
        registered: names of the flows registered in that project.
    """

    def __init__(self, flow_name: str, project_name: str, registered: Iterable[str]):
        self.flow_name = flow_name
        self.project_name = project_name
        self.registered = sorted(registered)
        super().__init__(
            f"flow {flow_name!r} is not registered in project {project_name!r}; "
            f"registered flows of {project_name!r}: {_names(self.registered)}"
        )


class FlowNotSerializableError(LUMEServicesError):
    """A flow cannot be pickled for registration.

    Args:
        flow_name: the flow.
        error: what the pickler raised.
    """

    def __init__(self, flow_name: str, error: Exception):
        self.flow_name = flow_name
        self.error = error
        super().__init__(
            f"flow {flow_name!r} cannot be registered: it cannot be pickled "
            f"({type(error).__name__}: {error}); a registered flow's tasks and their "
            "arguments must be picklable (no open files, locks, connections or clients: "
            "create those inside the task's run)"
        )


class FlowNotRegistrableError(LUMEServicesError):
    """A flow loaded from a server was changed and cannot be registered as it is."""

    def __init__(self, flow_name: str, labels, image: str):
        self.flow_name = flow_name
        super().__init__(
            f"flow {flow_name!r} was loaded from the server, which keeps a description "
            "of it, not its code, so it cannot be registered again with labels "
            f"{list(labels)!r} and image {image!r}; set prefect_flow to the Prefect flow "
            "and register that"
        )


class FlowNotLoadedError(LUMEServicesError):
    """An operation needs the Prefect flow, but it is neither set nor loadable."""


class FlowFailedError(LUMEServicesError):
    """A flow run ended in a failed state.

    Args:
        flow_name: the flow that failed.
        failed_tasks: ``{task name: message}`` for each failed task (for a flow
            of flows the task name is ``"<child>/<task>"``).
        message: the flow run's own state message.
        flow_run_id: the id of the run, where there is one.
    """

    def __init__(
        self,
        flow_name: str,
        failed_tasks: Optional[dict] = None,
        message: Optional[str] = None,
        flow_run_id: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.failed_tasks = dict(failed_tasks or {})
        self.message = message
        self.flow_run_id = flow_run_id
        run = f" (flow run {flow_run_id})" if flow_run_id else ""
        if self.failed_tasks:
            details = "; ".join(
                f"task {task!r} failed: {msg}" for task, msg in self.failed_tasks.items()
            )
            if message:
                details = f"{message}: {details}"
        else:
            details = message or "no task reported a failure"
        super().__init__(f"flow {flow_name!r} failed{run}: {details}")


class FlowRunTimeoutError(LUMEServicesError):
    """A flow run did not finish in the time allowed; it was cancelled."""


class TaskNotInFlowError(LUMEServicesError):
    """A task name does not name a task of the flow.

    Args:
        flow_name: the flow searched.
        task_name: the name asked for.
        task_names: the valid task names.
        context: optional prefix saying who asked (e.g. a mapped parameter).
    """

    def __init__(
        self,
        flow_name: str,
        task_name: str,
        task_names: Iterable[str],
        context: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.task_name = task_name
        self.task_names = sorted(set(task_names))
        prefix = f"{context}, but " if context else ""
        super().__init__(
            f"{prefix}flow {flow_name!r} has no task {task_name!r}; "
            f"tasks of {flow_name!r}: {_names(self.task_names)}"
        )


class EmptyResultError(LUMEServicesError):
    """A task ran but holds no result (for example it was skipped)."""

    def __init__(self, flow_name: str, task_name: str, state: str):
        self.flow_name = flow_name
        self.task_name = task_name
        super().__init__(
            f"task {task_name!r} of flow {flow_name!r} has no result (its state is "
            f"{state}); only tasks that ran to completion have results"
        )


class ParameterNotInFlowError(LUMEServicesError):
    """A parameter name is not a parameter of the flow.

    Args:
        flow_name: the flow.
        parameter_names: the unknown names.
        valid: the flow's parameter names.
        context: optional prefix saying who asked.
    """

    def __init__(
        self,
        flow_name: str,
        parameter_names: Iterable[str],
        valid: Iterable[str],
        context: Optional[str] = None,
    ):
        self.flow_name = flow_name
        self.parameter_names = sorted(parameter_names)
        self.valid = sorted(valid)
        prefix = f"{context}, but " if context else ""
        unknown = _names(self.parameter_names)
        super().__init__(
            f"{prefix}flow {flow_name!r} has no parameter {unknown}; "
            f"parameters of {flow_name!r}: {_names(self.valid)}"
        )


class MissingParameterError(LUMEServicesError):
    """A required parameter of the flow was given no value."""

    def __init__(self, flow_name: str, missing: Iterable[str], valid: Iterable[str]):
        self.flow_name = flow_name
        self.missing = sorted(missing)
        self.valid = sorted(valid)
        super().__init__(
            f"flow {flow_name!r} needs a value for required parameter(s) "
            f"{_names(self.missing)}; parameters of {flow_name!r}: {_names(self.valid)}"
        )


# --- flows of flows ----------------------------------------------------------


class ParentFlowNotInFlowsError(LUMEServicesError):
    """A mapped parameter names a parent flow that is not a composing flow."""

    def __init__(self, child: str, parameter: str, parent: str, flows: Iterable[str]):
        self.child = child
        self.parameter = parameter
        self.parent = parent
        self.flows = sorted(flows)
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} from flow {parent!r}, which "
            f"is not one of the composing flows; composing flows: {_names(self.flows)}"
        )


class UnknownMapTypeError(LUMEServicesError):
    """A mapped parameter has a ``map_type`` other than raw, file or db."""

    ALLOWED = ("raw", "file", "db")

    def __init__(self, parameter: str, map_type: object, child: Optional[str] = None):
        self.parameter = parameter
        self.map_type = map_type
        where = f" of flow {child!r}" if child else ""
        super().__init__(
            f"mapped parameter {parameter!r}{where} has unknown map_type {map_type!r}; "
            f"allowed map types: {', '.join(repr(t) for t in self.ALLOWED)}"
        )


class MissingDBAttributeError(LUMEServicesError):
    """A ``db`` mapped parameter does not say which attribute of the result to pass."""

    def __init__(self, child: str, parameter: str):
        self.child = child
        self.parameter = parameter
        super().__init__(
            f"flow {child!r} maps parameter {parameter!r} with map_type 'db' but gives "
            "no 'attribute'; a db mapping needs the attribute of the stored result to "
            "pass (for example attribute: outputs, attribute_index: [key])"
        )


class InvalidFlowOfFlowsError(LUMEServicesError):
    """A flow of flows declaration is not of the expected form (YAML or dict)."""


class DuplicateFlowNameError(LUMEServicesError):
    """Two composing flows of a flow of flows have the same name."""

    def __init__(self, names: Iterable[str]):
        self.names = sorted(set(names))
        super().__init__(
            f"composing flows must have distinct names; duplicated: {_names(self.names)}"
        )


class FlowCycleError(LUMEServicesError):
    """The mapped parameters of a flow of flows form a cycle."""

    def __init__(self, cycle: List[str]):
        self.cycle = list(cycle)
        path = " -> ".join(repr(n) for n in self.cycle + self.cycle[:1])
        super().__init__(
            f"the mapped parameters form a cycle: {path}; a flow of flows must be "
            "acyclic (a flow cannot depend, directly or not, on its own results)"
        )


# --- files and results -------------------------------------------------------


class MissingExtraError(LUMEServicesError, ImportError):
    """An optional dependency that a feature needs is not installed.

    Args:
        feature: what needs it (e.g. ``HDF5File``).
        module: the module that could not be imported.
        extra: the lume-services extra that installs it.
    """

    def __init__(self, feature: str, module: str, extra: str):
        self.feature = feature
        self.module = module
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional package {module!r}, which is not installed; "
            f"install it with: pip install 'lume-services[{extra}]'"
        )


class FilesystemNotConfiguredError(LUMEServicesError):
    """A file names a filesystem identifier that the file service does not have.

    Args:
        identifier: the identifier asked for.
        configured: the identifiers of the configured filesystems.
    """

    def __init__(self, identifier: str, configured: Iterable[str]):
        self.identifier = identifier
        self.configured = sorted(configured)
        super().__init__(
            f"filesystem {identifier!r} is not configured; configured filesystems: "
            f"{_names(self.configured)} (a mounted filesystem is configured with "
            "LUME_MOUNTED_FILESYSTEM__MOUNT_PATH and LUME_MOUNTED_FILESYSTEM__MOUNT_ALIAS)"
        )


class DuplicateFilesystemError(LUMEServicesError):
    """Two filesystems given to the file service share an identifier."""

    def __init__(self, identifiers: Iterable[str]):
        self.identifiers = sorted(set(identifiers))
        super().__init__(
            "each filesystem needs its own identifier; given more than once: "
            f"{_names(self.identifiers)}"
        )


class PathNotInMount(LUMEServicesError):
    """A path on a mounted filesystem leads outside the mount.

    Raised before anything is read, written or created.

    Args:
        path: the path as given.
        mount_alias: the path the mount is seen under (in containers).
        mount_path: the mounted folder on the host.
        reason: how the path escapes (``..``, a symlink, another absolute path).
    """

    def __init__(self, path: str, mount_alias: str, mount_path: str, reason: str):
        self.path = path
        self.mount_alias = mount_alias
        self.mount_path = mount_path
        self.reason = reason
        super().__init__(
            f"path {path!r} is not inside the mounted filesystem ({reason}); paths must "
            f"lie under the mount alias {mount_alias!r} (host folder {mount_path!r})"
        )


class InvalidMountError(LUMEServicesError):
    """A mounted filesystem is configured with a mount alias that is not an absolute path."""

    def __init__(self, mount_alias: str):
        self.mount_alias = mount_alias
        super().__init__(
            f"mount alias {mount_alias!r} must be an absolute path (the path containers "
            "see the mounted folder under), e.g. '/lume/data'"
        )


class UnknownFileTypeError(LUMEServicesError):
    """A file reference names a file type that cannot be imported or is not a ``File``.

    Args:
        file_type_string: the ``"module:ClassName"`` string of the reference.
        reason: why it cannot be used.
    """

    def __init__(self, file_type_string: object, reason: str):
        self.file_type_string = file_type_string
        super().__init__(
            f"file type {file_type_string!r} cannot be used: {reason}; a file type is "
            "given as 'module:ClassName' of a subclass of lume_services.files.File "
            "(for example 'lume_services.files:TextFile')"
        )


class InvalidFileReferenceError(LUMEServicesError):
    """A value given as a file reference is not one.

    Args:
        reference: the value given.
        reason: what is wrong with it.
    """

    def __init__(self, reference: object, reason: str):
        self.reference = reference
        super().__init__(
            f"not a file reference ({reason}): {reference!r}; a file reference is the "
            "dict returned by File.jsonable_dict() or the SaveFile task, with keys "
            "'file_type_string', 'filename' and 'filesystem_identifier'"
        )


class FileHasNoObjectError(LUMEServicesError):
    """``File.write()`` was called with no object, and the file holds none."""

    def __init__(self, filename: str):
        self.filename = filename
        super().__init__(
            f"nothing to write to {filename!r}: pass the object, file.write(obj), or set "
            "file.obj first"
        )


class UnsupportedQueryError(LUMEServicesError):
    """A results-database query uses something beyond equality on dotted paths.

    Args:
        query: the query given.
        reason: what is not supported.
    """

    def __init__(self, query: object, reason: str):
        self.query = query
        super().__init__(
            f"unsupported results query {query!r}: {reason}; queries map dotted field "
            "paths to the values they must equal, e.g. {'outputs.cube': 27}"
        )


class InvalidIndexError(LUMEServicesError):
    """An index asked of the results database names no field it can index.

    Args:
        fields: the fields given.
        reason: what is wrong with them.
    """

    def __init__(self, fields: object, reason: str):
        self.fields = fields
        super().__init__(
            f"cannot index results on {fields!r}: {reason}; an index is given as a dotted "
            "field path or a list of them, e.g. 'inputs.energy' or ['flow_id', 'outputs.cube']"
        )


class InvalidDocumentError(LUMEServicesError, TypeError):
    """A document given to the results database is not a dict.

    Args:
        document: the value given.
    """

    def __init__(self, document: object):
        self.document = document
        super().__init__(
            f"a results document is a dict of JSON data, not a {type(document).__name__}: "
            f"{document!r:.200}; store a result with Result.insert() or pass a dict"
        )


class UnknownResultTypeError(LUMEServicesError):
    """A stored result names a result type that cannot be imported or is not a ``Result``.

    Args:
        result_type_string: the ``"module:ClassName"`` string.
        reason: why it cannot be used.
    """

    def __init__(self, result_type_string: object, reason: str):
        self.result_type_string = result_type_string
        super().__init__(
            f"result type {result_type_string!r} cannot be used: {reason}; a result "
            "type is given as 'module:ClassName' of a subclass of "
            "lume_services.results.Result, importable where the result is loaded"
        )


class ResultNotFoundError(LUMEServicesError):
    """No stored result matches the query.

    Args:
        project_name: the collection searched.
        query: the query.
        stored: how many results the collection holds.
    """

    def __init__(self, project_name: str, query: dict, stored: int):
        self.project_name = project_name
        self.query = query
        self.stored = stored
        super().__init__(
            f"no result of project {project_name!r} matches {query!r} "
            f"({stored} result(s) stored in {project_name!r})"
        )


class MultipleResultsFoundError(LUMEServicesError):
    """A query meant to load one result matches several.

    Args:
        project_name: the collection searched.
        query: the query.
        count: how many results match.
    """

    def __init__(self, project_name: str, query: dict, count: int):
        self.project_name = project_name
        self.query = query
        self.count = count
        super().__init__(
            f"{count} results of project {project_name!r} match {query!r}; loading one "
            "needs a query that identifies it, such as {'unique_hash': ...} "
            "(see Result.unique_rep())"
        )


class InvalidResultReferenceError(LUMEServicesError):
    """A value given as a result reference is not one.

    Args:
        reference: the value given.
        reason: what is wrong with it.
    """

    def __init__(self, reference: object, reason: str):
        self.reference = reference
        super().__init__(
            f"not a result reference ({reason}): {reference!r}; a result reference is "
            "the dict returned by Result.unique_rep() or the SaveDBResult task, with "
            "keys 'project_name', 'result_type_string' and 'query'"
        )


class ResultAttributeError(LUMEServicesError):
    """A result has no attribute of the name asked for.

    Args:
        result_type: the result's class name.
        attribute: the name asked for.
        available: the result's attributes.
    """

    def __init__(self, result_type: str, attribute: str, available: Iterable[str]):
        self.result_type = result_type
        self.attribute = attribute
        self.available = sorted(available)
        super().__init__(
            f"result of type {result_type!r} has no attribute {attribute!r}; "
            f"attributes: {_names(self.available)}"
        )


class ResultKeyError(LUMEServicesError):
    """An ``attribute_index`` key is missing from the value it indexes.

    Args:
        path: where the key was looked up, e.g. ``outputs['a']``.
        key: the missing key.
        available: the keys (or indices) that exist there.
    """

    def __init__(self, path: str, key: object, available: Iterable[object]):
        self.path = path
        self.key = key
        self.available = list(available)
        super().__init__(
            f"{path} has no key {key!r}; keys of {path}: {_names(self.available)}"
        )


# --- server ------------------------------------------------------------------


class ServerUnreachableError(LUMEServicesError):
    """The Prefect 1 Server's GraphQL endpoint does not answer.

    Args:
        url: the endpoint tried.
        reason: what went wrong (connection refused, timeout, ...).
        timeout: the seconds the check waited.
    """

    def __init__(self, url: str, reason: str, timeout: Optional[float] = None):
        self.url = url
        self.reason = reason
        waited = f" within {timeout:g} s" if timeout is not None else ""
        super().__init__(
            f"the Prefect Server at {url} did not answer{waited}: {reason}; start the "
            "server (see docker/docker-compose.yml) or point lume-services at a running "
            "one with LUME_PREFECT__SERVER_HOST, LUME_PREFECT__SERVER_PORT and "
            "LUME_PREFECT__GRAPHQL_PATH"
        )


class ServerRequestError(LUMEServicesError):
    """The Prefect 1 Server answered a request with an error."""


class FlowVersionArchivedError(LUMEServicesError):
    """A run was asked of a flow version that the server has archived.

    Registering a changed flow makes a new version and archives the older
    ones; a Prefect Server refuses to run an archived version ("Flow {id} is
    archived."). A ``Flow`` model loaded by name runs the current version
    instead; one that holds its own Prefect flow raises this error.

    Args:
        flow_name: the flow.
        project_name: its project.
        flow_id: the archived version's flow id.
        version: its version number.
        current_flow_id: the current version's flow id (``None``: no version is current).
        current_version: the current version's number.
    """

    def __init__(self, flow_name: str, project_name: str, flow_id: str, version: Optional[int],
                 current_flow_id: Optional[str] = None, current_version: Optional[int] = None):
        self.flow_name = flow_name
        self.project_name = project_name
        self.flow_id = flow_id
        self.version = version
        self.current_flow_id = current_flow_id
        self.current_version = current_version
        if current_flow_id:
            current = (
                f"the current version is {current_version} (flow id {current_flow_id}): load it "
                "(Flow.load_flow(), after which runs follow new versions) or register this flow "
                "again to make it the current version"
            )
        else:
            current = "no version of it is current: register it again"
        super().__init__(
            f"flow {flow_name!r} of project {project_name!r}: version {version} (flow id "
            f"{flow_id}) is archived, and a Prefect Server runs only a flow's current version; "
            + current
        )


class ChildFlowArchivedError(LUMEServicesError):
    """A flow of flows was composed with child versions that the server has archived since.

    Its composed flow starts each child's run by the child's flow id; a
    Prefect Server refuses to run an archived version, so the run would fail
    child by child.

    Args:
        flow_of_flows: the flow of flows' name.
        children: child name -> ``(composed flow id, composed version,
            current flow id or None, current version or None)``.
    """

    def __init__(self, flow_of_flows: str, children: dict):
        self.flow_of_flows = flow_of_flows
        self.children = dict(children)
        described = []
        for child, (flow_id, version, current_id, current_version) in sorted(self.children.items()):
            now = (f"now version {current_version} (flow id {current_id})" if current_id
                   else "no version is current")
            described.append(f"{child!r} version {version} (flow id {flow_id}), {now}")
        super().__init__(
            f"flow of flows {flow_of_flows!r} was composed with archived versions of its "
            f"children: {'; '.join(described)}. A Prefect Server runs only a flow's current "
            "version. Build the flow of flows again (FlowOfFlows.from_yaml(...) loads the "
            "current children) and compose_and_register() it, or register the children's "
            "composed versions again"
        )


class EmptyLabelsError(LUMEServicesError):
    """A flow or run on a server backend has no agent labels, so no lume-services agent would run it.

    Args:
        what: what has the empty labels (``"flow 'adder'"``, ``"the run of flow 'adder'"``).
        where: where they were given (``"Flow(labels=[])"``, ``"FlowRunConfig(labels=[])"``).
    """

    def __init__(self, what: str, where: str):
        self.what = what
        self.where = where
        super().__init__(
            f"{what} has no labels ({where}): a Prefect Server gives a run without labels only to "
            "an agent without labels, and lume-services' agents have the label 'lume-services', "
            "so the run would wait until it timed out. Leave labels unset for the default "
            "['lume-services'], or name the labels of an agent that runs"
        )


class StateTooLargeError(LUMEServicesError):
    """A value would be kept in a run's state, and is larger than a Prefect Server accepts.

    Prefect keeps a value inside its task run's state where its result is a
    ``PrefectResult``: always for a flow's parameters, and for task results on
    the Kubernetes backend and the Docker backend without a ``results_dir``. A
    Prefect Server refuses states over 1 MB, so the run would fail after it
    started.

    Args:
        flow_name: the flow.
        what: the value (``"parameter 'text'"``).
        size: its size in bytes, as JSON.
        limit: the server's limit in bytes.
        kept: why it is kept in a state (``"Prefect keeps every parameter's value in ..."``).
    """

    def __init__(self, flow_name: str, what: str, size: int, limit: int, kept: str):
        self.flow_name = flow_name
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} of flow {flow_name!r} is {size:,} bytes as JSON; {kept}, and a Prefect "
            f"Server refuses states over {limit:,} bytes (1 MB). Pass a file or a "
            "results-database reference instead (SaveFile, SaveDBResult, and a file or db "
            "mapping in a flow of flows)"
        )


# --- docker ------------------------------------------------------------------


class DockerEngineUnavailableError(LUMEServicesError):
    """No Docker engine answers where lume-services looks for one.

    Args:
        base_url: where the engine was looked for (``DOCKER_HOST`` or the default socket).
        reason: what the Docker client reported.
    """

    def __init__(self, base_url: str, reason: str):
        self.base_url = base_url
        self.reason = reason
        super().__init__(
            f"no Docker engine answers at {base_url} ({reason}); start one (as root on "
            "Debian: scripts/docker-engine.sh start, which installs docker.io if needed), "
            "or set DOCKER_HOST to the address of an engine that runs"
        )


class ImageBuildError(LUMEServicesError):
    """A Docker image failed to build; the message ends with the build log's last lines.

    Args:
        image: the image (``name:tag``) that was being built.
        reason: the error the engine reported.
        log_lines: the build log, line by line.
        tail: how many of the last log lines the message shows.
    """

    def __init__(self, image: str, reason: str, log_lines: Sequence[str], tail: int = 20):
        self.image = image
        self.reason = reason
        self.log_lines = list(log_lines)
        last = self.log_lines[-tail:]
        shown = "\n".join(f"  | {line}" for line in last) if last else "  | (no build output)"
        super().__init__(
            f"image {image!r} failed to build: {reason}\n"
            f"last {len(last)} lines of the build log:\n{shown}"
        )
