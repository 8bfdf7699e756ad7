"""The errors only a Prefect Server backend (``server``, ``docker``, ``kubernetes``) raises."""

from typing import List, Optional

from lume_services.errors._base import LUMEServicesError
from lume_services.errors._flows import FlowNotLoadedError


class ServerError(LUMEServicesError):
    """Base class of the errors only a Prefect Server backend (``server``,
    ``docker``, ``kubernetes``) raises: the server does not answer
    (:class:`ServerUnreachableError`) or refuses a request
    (:class:`ServerRequestError`) or answers malformed (:class:`ServerReplyError`);
    registering a flow failed part of the way (:class:`FlowRegistrationError`);
    a flow is not registered there
    (:class:`FlowNotRegisteredError`, :class:`FlowIdNotFoundError`), cannot be
    registered again as loaded (:class:`FlowNotRegistrableError`), or is in a
    version the server no longer runs (:class:`FlowVersionArchivedError`,
    :class:`ChildFlowArchivedError`); a flow or run has labels no agent serves
    (:class:`EmptyLabelsError`); a value is over the server's 1 MB state limit
    (:class:`StateTooLargeError`); the runs are kept by the server
    (:class:`RunHistoryNotPrunableError`); a run config holds a secret the
    server would store in clear (:class:`SecretInRunConfigError`); a child of
    a composed run did not finish before the flow of flows' deadline
    (:class:`ChildRunTimeoutError`).

    A run that does not finish in time is a :class:`RunError`
    (:class:`FlowRunTimeoutError`): the local backend raises it too. Building a
    flow's image is a :class:`DockerError`.
    """


class ServerUnreachableError(ServerError):
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
            "server (lume-services docker start-services) or point lume-services at a running "
            "one with LUME_PREFECT__SERVER__HOST, LUME_PREFECT__SERVER__HOST_PORT and "
            "LUME_PREFECT__SERVER__GRAPHQL_PATH"
        )


class ServerRequestError(ServerError):
    """The Prefect 1 Server answered a request with an error.

    Args:
        url: the server's GraphQL endpoint.
        error: what the server answered (Prefect's ``ClientError``).
        flow_id: the flow a refused run was of, where the request was a run.
    """

    def __init__(self, url: str, error: object, flow_id: Optional[str] = None):
        self.url = url
        self.error = error
        self.flow_id = flow_id
        what = f"a run of flow id {flow_id}" if flow_id else "a request"
        super().__init__(f"the Prefect Server at {url} refused {what}: {error}")


class ServerReplyError(ServerError):
    """The Prefect Server's answer to a request is not the answer asked for.

    Not JSON (a proxy's error page), JSON without the fields requested, or a
    field of the wrong shape: the server, or something in front of it, is not a
    Prefect 1 Server answering normally.

    Args:
        url: the server's GraphQL endpoint.
        request: what was asked (``"register flow 'adder'"``, ``"query flow"``).
        problem: what is wrong with the answer.
    """

    def __init__(self, url: str, request: str, problem: str):
        self.url, self.request, self.problem = url, request, problem
        super().__init__(
            f"the Prefect Server at {url} gave a malformed answer to {request}: {problem}; check that "
            "the URL points at a Prefect 1 Server's GraphQL endpoint (apollo, port 4200, path /graphql) "
            "and nothing in between rewrites its answers"
        )


class FlowRegistrationError(ServerError):
    """Registering a flow on a Prefect Server failed part of the way.

    Prefect registers a flow in steps (the flow, then its tasks, then its edges).
    A version left without its tasks or edges looks registered but every run of
    it fails, and registering again would find it "unchanged"; so it is deleted
    when the registration fails, and a later registration repairs one that
    could not be deleted then.

    Args:
        url: the server's GraphQL endpoint.
        flow_name: the flow.
        project_name: its project.
        cause: what failed.
        removed: whether an incomplete version was found and deleted (``None``:
            none was left).
    """

    def __init__(self, url: str, flow_name: str, project_name: str, cause: object, removed: Optional[bool]):
        self.url, self.flow_name, self.project_name = url, flow_name, project_name
        self.cause, self.removed = cause, removed
        if removed is None:
            left = "no version of it was left registered"
        elif removed:
            left = "the incomplete version was deleted"
        else:
            left = ("an incomplete version may be left on the server (it could not be deleted); "
                    "registering again repairs it")
        super().__init__(
            f"registering flow {flow_name!r} in project {project_name!r} on the Prefect Server at {url} "
            f"failed: {cause}; {left}; register again once the server answers normally"
        )


class FlowNotRegisteredError(FlowNotLoadedError, ServerError):
    """A flow was run on a server backend without being registered there first.

    Args:
        flow_name: the flow, where known.
    """

    def __init__(self, flow_name: Optional[str] = None):
        self.flow_name = flow_name
        which = f"flow {flow_name!r}" if flow_name else "a flow"
        super().__init__(
            f"{which} must be registered before it runs on a server backend; register "
            "it (Flow.register) or load it (Flow.load_flow) to get its flow id"
        )


class FlowIdNotFoundError(FlowNotLoadedError, ServerError):
    """No flow with this id is registered on the server.

    Args:
        flow_id: the id looked up.
        url: the server's GraphQL endpoint.
    """

    def __init__(self, flow_id: str, url: str):
        self.flow_id = flow_id
        self.url = url
        super().__init__(
            f"no flow with id {flow_id!r} is registered on {url}; flow ids are returned "
            "by Flow.register and set by Flow.load_flow"
        )


class FlowNotRegistrableError(ServerError):
    """A flow loaded from a server was changed and cannot be registered as it is.

    Args:
        flow_name: the flow.
        labels: the labels it was given since it was loaded.
        image: the image it was given since it was loaded.
    """

    def __init__(self, flow_name: str, labels, image: str):
        self.flow_name = flow_name
        self.labels = list(labels)
        self.image = image
        super().__init__(
            f"flow {flow_name!r} was loaded from the server, which keeps a description "
            "of it, not its code, so it cannot be registered again with labels "
            f"{self.labels!r} and image {image!r}; set prefect_flow to the Prefect flow "
            "and register that"
        )


class FlowVersionArchivedError(ServerError):
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


class ChildFlowArchivedError(ServerError):
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


class EmptyLabelsError(ServerError):
    """A flow or run on a server backend has no agent labels, so no lume-services agent would run it.

    Args:
        kind: what has the empty labels: ``flow``, ``flow of flows`` or ``run``.
        model: the class the empty labels were given to (``Flow``, ``FlowRunConfig``, ...).
        name: the flow's name, where there is one.
    """

    def __init__(self, kind: str, model: str, name: Optional[str] = None):
        self.kind = kind
        self.model = model
        self.name = name
        self.what = f"{kind} {name!r}" if name else f"the {kind}"
        self.where = f"{model}(labels=[])"
        super().__init__(
            f"{self.what} has no labels ({self.where}): a Prefect Server gives a run without labels only to "
            "an agent without labels, and lume-services' agents have the label 'lume-services', "
            "so the run would wait until it timed out. Leave labels unset for the default "
            "['lume-services'], or name the labels of an agent that runs"
        )


class StateTooLargeError(ServerError):
    """A value would be kept in a run's state, and is larger than a Prefect Server accepts.

    Prefect keeps a value inside its task run's state where its result is a
    ``PrefectResult``: always for a flow's parameters, and for task results on
    the Kubernetes backend and the Docker backend without a ``results_dir``. A
    Prefect Server refuses states over 1 MB, so the run would fail after it
    started. A task's result refused as it is written is a
    :class:`TaskResultTooLargeError`.

    Args:
        flow_name: the flow.
        what: the value (``"parameter 'text'"``).
        size: its size in bytes, as JSON.
        limit: the server's limit in bytes.
        kept: why it is kept in a state (``"Prefect keeps every parameter's value in ..."``).
    """

    flow_name: Optional[str]  # a task's result may be written outside a flow run's context

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


class TaskResultTooLargeError(StateTooLargeError):
    """A task's result would be kept in its task run's state, and is larger than a Prefect Server accepts.

    Raised in the flow run, by the task's ``PrefectResult`` when it writes the
    value, before the state is sent: the task run fails with this message
    instead of the flow run dying on the server's refusal of the state.

    Args:
        flow_name: the flow.
        task_name: the task (its full name, with a map index where mapped).
        size: the result's size in bytes, as JSON inside the state.
        limit: the server's limit in bytes.
    """

    def __init__(self, flow_name: Optional[str], task_name: Optional[str], size: int, limit: int):
        self.flow_name = flow_name
        self.task_name = task_name
        self.what = f"the result of task {task_name!r}"
        self.size = size
        self.limit = limit
        LUMEServicesError.__init__(
            self,
            f"{self.what} of flow {flow_name!r} is {size:,} bytes as JSON; it would be kept in its task "
            f"run's state (PrefectResult: the kubernetes backend, and docker without a results_dir), "
            f"and a Prefect Server refuses states over {limit:,} bytes (1 MB). Keep it where the runs "
            "can reach it instead: a results_dir on the docker backend, a LocalResult in a folder the "
            "runs and your process share or an S3Result as the task's or flow's result, or return a "
            "file or results-database reference (SaveFile, SaveDBResult)",
        )


class RunHistoryNotPrunableError(ServerError):
    """This backend's run history is kept by a server, which lume-services does not prune.

    Args:
        backend: the backend asked to prune (its class name).
        url: the server that keeps its runs.
    """

    def __init__(self, backend: str, url: str):
        self.backend = backend
        self.url = url
        super().__init__(
            f"runs of the {backend} are kept by the Prefect Server at {url}, not by "
            "lume-services; delete them there (Prefect's UI or its GraphQL API), or prune "
            "the local backend's history (backend: local)"
        )


class SecretInRunConfigError(ServerError):
    """A run config's ``env`` holds a secret, which would be stored on the Prefect Server in clear.

    A run config is kept with its flow (and flow run) on the server, whose API
    has no authentication. Runs get secrets from where their agent runs.

    Args:
        model: the run config class (``"LocalRunConfig"``).
        names: the variables holding secrets (their values are never shown).
    """

    def __init__(self, model: str, names: List[str]):
        self.model = model
        self.names = list(names)
        super().__init__(
            f"{model}.env holds secrets ({', '.join(self.names)}), and a run config is stored on the "
            "Prefect Server in clear; give them to the agent instead: its environment (LocalAgent), "
            "its --env (DockerAgent) or a Kubernetes Secret (KubernetesBackend's secretKeyRefs)"
        )


class ChildRunTimeoutError(ServerError):
    """A child's flow run of a composed flow of flows did not finish in time; it was cancelled.

    Raised (as the message of the failed wait task) inside the composed run, so
    that a child stuck on the server (its parameter state refused, its agent
    gone, its heartbeat lost) fails the composed run naming the child, instead
    of the caller's wait for the composed run running out.

    Args:
        child: the child flow.
        flow_run_id: the child's flow run, cancelled.
        timeout: the seconds the wait allowed.
        state: the child's last state (``"Running"``).
    """

    def __init__(self, child: str, flow_run_id: str, timeout: float, state: str):
        self.child = child
        self.flow_run_id = flow_run_id
        self.timeout = timeout
        self.state = state
        super().__init__(
            f"child {child!r} (flow run {flow_run_id}) was still {state} after {timeout:.1f} s, "
            "the time left for the flow of flows; its run was cancelled. Look at the child's run "
            "(its agent, its logs), or allow more time with run_and_return(timeout=...)"
        )
