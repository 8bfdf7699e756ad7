"""The errors of the model database: models, deployments, projects and the flows stored for them."""

from typing import Iterable, Mapping, Optional

from lume_services.errors._base import LUMEServicesError, _names
from lume_services.errors._flows import FlowNotFoundError


def _criteria(query: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in query.items()) if query else "(no criteria)"


class ModelDBError(LUMEServicesError):
    """Base class of the model database's errors: a row that is not there
    (:class:`ModelNotFoundError`, :class:`DeploymentNotFoundError`,
    :class:`ProjectNotFoundError`, :class:`FlowNotInModelDBError`,
    :class:`DeploymentNotRegisteredError`, LUME-services'
    :class:`FlowOfFlowsNotFoundError`), a row that clashes with a stored one
    (:class:`ModelDBConflictError`, :class:`FlowAlreadyDeployedError`), a row
    that cannot be made from what was given (:class:`ModelNotSpecifiedError`,
    :class:`IncompleteDeploymentError`), a query naming no column
    (:class:`UnknownColumnError`), a database that does not answer
    (:class:`ModelDBUnreachableError`).

    An embedded model database that is not trusted or cannot be used is a
    :class:`StorageError`.
    """


class ModelNotFoundError(ModelDBError):
    """No model in the model database matches the criteria.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        super().__init__(
            f"no model matches {_criteria(self.query)}; store it with Model.create_model(...) "
            "or `lume-services models create`, and list the stored ones with `lume-services models list`"
        )


class DeploymentNotFoundError(ModelDBError):
    """No deployment in the model database matches the criteria.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        super().__init__(
            f"no deployment matches {_criteria(self.query)}; list the stored ones with "
            "`lume-services deployments list`"
        )


class ProjectNotFoundError(ModelDBError):
    """No project in the model database matches the criteria.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        super().__init__(
            f"no project matches {_criteria(self.query)}; store it with ModelDBService.store_project(...) "
            "(storing a deployment stores its project)"
        )


class FlowNotInModelDBError(FlowNotFoundError, ModelDBError):
    """No flow stored in the model database matches the criteria.

    A :class:`FlowNotFoundError` too, which LUME-services raised here.

    Args:
        query: the criteria (column -> value) that matched nothing.
    """

    def __init__(self, query: Mapping[str, object]):
        self.query = dict(query)
        self.flow_name = str(self.query.get("flow_name", self.query.get("flow_id", "")))
        self.project_name = str(self.query.get("project_name", ""))
        self.registered = []
        LUMEServicesError.__init__(
            self,
            f"no flow in the model database matches {_criteria(self.query)}; a deployment's flow is "
            "stored with Model.store_deployment(...) or ModelDBService.store_flow(...)",
        )


class DeploymentNotRegisteredError(ModelDBError):
    """A model has no deployment (or not the one asked for).

    Args:
        model_id: the model.
        deployment_id: the deployment asked for; ``None`` when the latest was asked for.
        deployments: the ids of the model's deployments.
    """

    def __init__(self, model_id: int, deployment_id: Optional[int] = None, deployments: Iterable[int] = ()):
        self.model_id = model_id
        self.deployment_id = deployment_id
        self.deployments = sorted(deployments)
        stored = ", ".join(str(d) for d in self.deployments) or "(none)"
        if deployment_id is None:
            what = f"model {model_id} has no deployment"
        else:
            what = f"model {model_id} has no deployment {deployment_id}"
        super().__init__(
            f"{what}; its deployments: {stored} (store one with Model.store_deployment(...) "
            "or `lume-services deployments create`)"
        )


class ModelDBConflictError(ModelDBError):
    """A row cannot be stored: it repeats a unique entry, or refers to a row that is not stored.

    Nothing was written.

    Args:
        table: the table written to.
        values: the values of the row (column -> value).
        error: what the database reported.
    """

    def __init__(self, table: str, values: Mapping[str, object], error: object):
        self.table = table
        self.values = dict(values)
        self.error = str(error)
        super().__init__(
            f"cannot store a {table} with {_criteria(self.values)}: {self.error}; a {table} must not "
            "repeat a stored one's unique columns (a model: author, laboratory, facility, beampath and "
            "description; a deployment: model_id and version; a flow: flow_id), and the rows it refers "
            "to (model_id, deployment_id, project_name) must be stored first"
        )


class ModelDBUnreachableError(ModelDBError):
    """The MySQL/MariaDB server of the model database cannot be used.

    Args:
        url: the database URL, its password masked.
        error: what the driver reported.
    """

    def __init__(self, url: str, error: object):
        self.url = url
        self.error = str(error)
        super().__init__(
            f"the model database at {url} cannot be used: {self.error}; start the server, or check "
            "LUME_MODEL_DB__HOST, __PORT, __USER, __PASSWORD and __DATABASE (unset them to use the "
            "embedded SQLite database under LUME_HOME)"
        )


class UnknownColumnError(ModelDBError, ValueError):
    """A query of the model database names columns its table does not have.

    A ``ValueError`` too, as LUME-services raised.

    Args:
        table: the table queried.
        unknown: the names that are not its columns.
        columns: the table's columns.
    """

    def __init__(self, table: str, unknown: Iterable[str], columns: Iterable[str]):
        self.table = table
        self.unknown = sorted(unknown)
        self.columns = list(columns)
        super().__init__(
            f"table {table!r} has no column {_names(self.unknown)}; its columns: "
            f"{', '.join(repr(c) for c in self.columns)}"
        )


class ModelNotSpecifiedError(ModelDBError):
    """A ``Model`` was made without saying which stored model it is.

    Args:
        given: the names of the arguments it was given.
    """

    def __init__(self, given: Iterable[str]):
        self.given = sorted(given)
        super().__init__(
            f"a Model needs model_id, deployment_id or metadata (a stored model); given: {_names(self.given)}; "
            "make a new one with Model.create_model(author=..., laboratory=..., facility=..., beampath=..., "
            "description=...)"
        )


class IncompleteDeploymentError(ModelDBError):
    """A deployment cannot be stored: what it needs is not given.

    Args:
        missing: the arguments it needs and lacks.
        hint: how to give them.
    """

    HINTS = {
        "flow": "give flow= (a Flow, a FlowOfFlows or a prefect.Flow) or source_path= (a model package)",
        "version": "give version= (the deployment's version, unique per model)",
        "project_name": "give project_name= (the project the flow is registered in)",
    }

    def __init__(self, missing: Iterable[str]):
        self.missing = sorted(missing)
        hints = "; ".join(self.HINTS.get(name, f"give {name}=") for name in self.missing)
        super().__init__(f"cannot store the deployment: it needs {', '.join(self.missing)}; {hints}")


class FlowAlreadyDeployedError(ModelDBError):
    """A new deployment's flow is the flow of another deployment already.

    The model database keys flows by their registered id (LUME-services'
    schema), and an unchanged flow keeps its id when registered again, so one
    registered flow belongs to one deployment. Nothing was written.

    Args:
        flow_name: the flow.
        flow_id: its registered id.
        deployment_id: the deployment it belongs to.
    """

    def __init__(self, flow_name: str, flow_id: str, deployment_id: int):
        self.flow_name = flow_name
        self.flow_id = flow_id
        self.deployment_id = deployment_id
        super().__init__(
            f"flow {flow_name!r} (id {flow_id}) is the flow of deployment {deployment_id} already: an "
            "unchanged flow keeps its id when registered again, and a registered flow belongs to one "
            f"deployment; deploy a changed flow, or use deployment {deployment_id}"
        )


class FlowOfFlowsNotFoundError(ModelDBError):
    """No flow of flows matches a query (LUME-services' name, from its model database).

    Kept for code that raises or catches it; this package finds flows of
    flows by name on a backend and raises :class:`FlowNotFoundError` there.

    Args:
        query: the query that matched nothing.
    """

    def __init__(self, query: dict):
        self.query = query
        super().__init__(f"no flow of flows matches {query!r}")
