"""``Model``, ``Deployment`` and ``Project``: the model database's rows with what they run.

A :class:`Model` is a stored model (its ``metadata`` row); it stores
deployments (a version with the flow that runs it), loads one (the latest by
default), runs its flow through the scheduling service and reads the results
its flows stored, across deployments, as a pandas DataFrame.

Importing this module imports neither SQLAlchemy nor pandas: the model
database service is injected (``Context.model_db_service``), and pandas is
imported by :meth:`Model.get_results_df`.
"""

import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from dependency_injector.wiring import Provide
from pydantic import BaseModel

from lume_services.composition import Context, inject
from lume_services.errors import (
    DeploymentNotFoundError,
    DeploymentNotRegisteredError,
    FlowNotFoundError,
    FlowOfFlowsNotFoundError,
    IncompleteDeploymentError,
    MissingExtraError,
    ModelNotFoundError,
    ModelNotSpecifiedError,
    ProjectNotFoundError,
)
from lume_services.flows.flow import Flow
from lume_services.flows.flow_of_flows import FlowOfFlows
from lume_services.results.result import Result, get_result_from_string
from lume_services.services.results.service import ResultsDBService
from lume_services.services.scheduling.service import SchedulingService
from lume_services.utils import flatten_dict

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from lume_services.services.models.service import ModelDBService

logger = logging.getLogger(__name__)


class _StoredRow(BaseModel):
    """What ``Project``, ``Deployment`` and ``Model`` share: a model database row
    (``metadata``, a row object of the model database service) and fields of
    types pydantic does not validate (flows, rows, classes)."""

    metadata: Optional[Any]

    class Config:
        arbitrary_types_allowed = True


class Project(_StoredRow):
    """A project of the model database.

    Attributes:
        metadata: its row (``project_name``, ``description``).
    """

    @property
    def project_name(self) -> str:
        """The project's name."""
        return self.metadata.project_name

    @classmethod
    @inject
    def load(
        cls, project_name: str, model_db_service: "ModelDBService" = Provide[Context.model_db_service]
    ) -> "Project":
        """Load a stored project by its name.

        Raises:
            ProjectNotFoundError: no project has this name.
        """
        return cls(metadata=model_db_service.get_project(project_name=project_name))

    @classmethod
    @inject
    def create(
        cls,
        project_name: str,
        description: str = "",
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
    ) -> "Project":
        """Load the project of this name, storing it first when it is not stored."""
        try:
            return cls.load(project_name, model_db_service=model_db_service)
        except ProjectNotFoundError:
            model_db_service.store_project(project_name=project_name, description=description)
            return cls.load(project_name, model_db_service=model_db_service)


class Deployment(_StoredRow):
    """A deployment of a model: its row, its project and the flow it runs.

    Attributes:
        metadata: its row (``deployment_id``, ``version``, ``deploy_date``, ``image``, ...).
        project: the project its flow is registered in.
        flow: its flow (a :class:`~lume_services.flows.flow.Flow`, or a
            :class:`~lume_services.flows.flow_of_flows.FlowOfFlows` for a flow of flows);
            loaded from the scheduling backend, by name, when it first runs.
        model_type: the model class of its package, when loaded from one.
    """

    project: Optional[Project]
    flow: Optional[Any]
    model_type: Optional[type]

    @property
    def deployment_id(self) -> int:
        """The deployment's id."""
        return self.metadata.deployment_id

    @classmethod
    @inject
    def load(
        cls,
        deployment_id: int,
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> "Deployment":
        """Load a stored deployment, with its project and flow.

        Raises:
            DeploymentNotFoundError: no deployment has this id.
            FlowNotFoundError: the deployment has no flow stored.
        """
        row = model_db_service.get_deployment(deployment_id=deployment_id)
        flow_row = model_db_service.get_deployment_flow(deployment_id)
        project = model_db_service.get_project(project_name=flow_row.project_name)
        try:
            declaration = model_db_service.get_flow_of_flows_declaration(flow_id=flow_row.flow_id)
        except FlowOfFlowsNotFoundError:
            flow: Flow = Flow(name=flow_row.flow_name, project_name=flow_row.project_name, flow_id=flow_row.flow_id)
        else:
            # the composing flows are loaded from the scheduling backend, as any flow of flows'
            flow = FlowOfFlows.from_yaml(declaration, scheduling_service=scheduling_service)
        if row.image:
            flow.image = row.image
        return cls(metadata=row, project=Project(metadata=project), flow=flow)

    @inject
    def run(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        **kwargs: Any,
    ) -> Any:
        """Run the deployment's flow (see :meth:`Flow.run <lume_services.flows.flow.Flow.run>`)."""
        return self.flow.run(parameters, scheduling_service=scheduling_service, **kwargs)

    @inject
    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        task_name: Optional[str] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        **kwargs: Any,
    ) -> Any:
        """Run the deployment's flow and return a task's result, or all
        (see :meth:`Flow.run_and_return <lume_services.flows.flow.Flow.run_and_return>`)."""
        return self.flow.run_and_return(parameters, task_name=task_name, scheduling_service=scheduling_service, **kwargs)


class Model(_StoredRow):
    """A stored model, the deployment loaded for it, and what its flows stored.

    Made from a stored model: ``Model(model_id=...)``, ``Model(deployment_id=...)``
    (which also loads that deployment) or ``Model(metadata=row)``; a new model
    is stored by :meth:`create_model`.

    Attributes:
        metadata: its row (``model_id``, ``author``, ``laboratory``, ``facility``,
            ``beampath``, ``description``, ``created``).
        deployment: the loaded deployment (the latest, unless another was loaded).
        results: kept for LUME-services' field; :meth:`get_results` returns results.

    Raises:
        ModelNotSpecifiedError: none of ``model_id``, ``deployment_id``, ``metadata`` is given.
        ModelNotFoundError: no model has this id.
        DeploymentNotFoundError: no deployment has this id.
    """

    deployment: Optional[Deployment]
    results: Optional[List[Result]]

    @inject
    def __init__(
        self,
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        **values: Any,
    ):
        model_id = values.pop("model_id", None)
        deployment_id = values.pop("deployment_id", None)
        if values.get("metadata") is None:
            if model_id is not None:
                values["metadata"] = model_db_service.get_model(model_id=model_id)
            elif deployment_id is not None:
                deployment = Deployment.load(deployment_id, model_db_service=model_db_service,
                                             scheduling_service=scheduling_service)
                values["metadata"] = model_db_service.get_model(model_id=deployment.metadata.model_id)
                values["deployment"] = deployment
            else:
                raise ModelNotSpecifiedError(values)
        super().__init__(**values)

    @property
    def model_id(self) -> int:
        """The model's id."""
        return self.metadata.model_id

    @classmethod
    @inject
    def create_model(
        cls,
        author: str,
        laboratory: str,
        facility: str,
        beampath: str,
        description: str,
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
    ) -> "Model":
        """The stored model with these values, storing it first when there is none.

        Args:
            author: who made the model.
            laboratory: the laboratory.
            facility: the facility of the laboratory.
            beampath: the beam path it models.
            description: what it does.
            model_db_service: the model database service; injected when omitted.
        """
        values = dict(author=author, laboratory=laboratory, facility=facility, beampath=beampath,
                      description=description)
        try:
            row = model_db_service.get_model(**values)
        except ModelNotFoundError:
            model_db_service.store_model(**values)
            row = model_db_service.get_model(**values)
        return cls(metadata=row, model_db_service=model_db_service)

    # --- deployments --------------------------------------------------------------

    @inject
    def load_deployment(
        self,
        deployment_id: Optional[int] = None,
        load_artifacts: bool = False,
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
    ) -> Deployment:
        """Load a deployment of this model into ``deployment``: the latest by deploy date, or the one given.

        Args:
            deployment_id: the deployment; ``None`` loads the latest.
            load_artifacts: also load the flow and model class from the
                deployment's installed package (its ``orchestration`` entry points).
            model_db_service: the model database service; injected when omitted.
            scheduling_service: the service the flow is loaded from; injected when omitted.

        Returns:
            The deployment (also in ``deployment``).

        Raises:
            DeploymentNotRegisteredError: the model has no deployment, or not this one.
        """
        try:
            if deployment_id is None:
                row = model_db_service.get_latest_deployment(model_id=self.model_id)
            else:
                row = model_db_service.get_deployment(model_id=self.model_id, deployment_id=deployment_id)
        except DeploymentNotFoundError:
            raise DeploymentNotRegisteredError(self.model_id, deployment_id, self._deployment_ids(model_db_service)) from None
        deployment = Deployment.load(row.deployment_id, model_db_service=model_db_service,
                                     scheduling_service=scheduling_service)
        if load_artifacts:
            self._load_artifacts(deployment)
        self.deployment = deployment
        return deployment

    def _deployment_ids(self, model_db_service: "ModelDBService") -> List[int]:
        try:
            return [row.deployment_id for row in model_db_service.get_deployments(model_id=self.model_id)]
        except DeploymentNotFoundError:
            return []

    @staticmethod
    def _load_artifacts(deployment: Deployment) -> None:
        """The flow and model class the deployment's package names in its ``orchestration`` entry points."""
        from importlib.metadata import distribution

        name = deployment.metadata.package_import_name
        entry_points = {ep.name: ep for ep in distribution(name).entry_points if ep.group == "orchestration"}
        if f"{name}.model" in entry_points:
            deployment.model_type = entry_points[f"{name}.model"].load()
        if f"{name}.flow" in entry_points:
            deployment.flow.prefect_flow = entry_points[f"{name}.flow"].load()

    @inject
    def store_deployment(
        self,
        source_path: Optional[str] = None,
        project_name: Optional[str] = None,
        is_live: bool = True,
        *,
        flow: Union[Flow, Any, None] = None,
        version: Optional[str] = None,
        sha256: Optional[str] = None,
        image: Optional[str] = None,
        package_import_name: Optional[str] = None,
        asset_dir: Optional[str] = None,
        project_description: str = "",
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
    ) -> Deployment:
        """Store a deployment of this model, register its flow, and load it.

        A deployment is a version of the model with the flow that runs it.
        Give the flow itself (``flow=``: a ``Flow``, a ``FlowOfFlows`` or a
        ``prefect.Flow``) with its ``version``; or, as LUME-services did, the
        model package's source (``source_path=``), which the environment
        solver installs and whose ``orchestration`` entry point names the flow
        (its version and checksum are the package's).

        The flow is registered with the scheduling service (a flow of flows
        is composed and registered), then the deployment, its project when
        missing, its flow and, for a flow of flows, its composing flows with
        their mapped parameters, the parameters they sweep (``map_over``) and
        whether they are cached (``cache``) are stored in one transaction. Storing a
        version that is stored already loads it and changes nothing.

        Args:
            source_path: a model package's source (path or URL), for the environment solver.
            project_name: the project the flow is registered in.
            is_live: whether the deployment is in service.
            flow: the flow the deployment runs.
            version: the deployment's version (unique per model).
            sha256: the checksum of its source; by default the fingerprint
                the scheduling backend registers the flow by.
            image: the image its flow runs in (container backends).
            package_import_name: the import name of its package.
            asset_dir: a folder of its assets.
            project_description: the description of a project stored here.
            scheduling_service: the service the flow is registered with; injected when omitted.
            model_db_service: the model database service; injected when omitted.

        Returns:
            The stored deployment (also in ``deployment``).

        Raises:
            IncompleteDeploymentError: neither a flow nor a source is given,
                or the version or project is missing.
        """
        source = source_path
        if flow is None and source_path is not None:
            flow, version, sha256, image, package_import_name, source = self._flow_from_source(
                source_path, project_name, image)
        missing = [name for name, value in (("flow", flow), ("version", version), ("project_name", project_name))
                   if value is None]
        if missing:
            raise IncompleteDeploymentError(missing)
        try:
            row = model_db_service.get_deployment(model_id=self.model_id, version=version)
        except DeploymentNotFoundError:
            row = None
        if row is not None:
            try:
                model_db_service.get_deployment_flow(row.deployment_id)
                return self.load_deployment(row.deployment_id, model_db_service=model_db_service,
                                            scheduling_service=scheduling_service)
            except FlowNotFoundError:
                pass  # stored without its flow (by an interrupted LUME-services): store the flow now
        model = _as_flow_model(flow, project_name, image)
        composing = None
        if isinstance(model, FlowOfFlows):
            flow_id = model.compose_and_register(scheduling_service=scheduling_service)
            cached = model.cached_children()
            composing = [
                {"flow_id": model.composing_flows[name].flow_id, "flow_name": name,
                 "project_name": model.composing_flows[name].project_name,
                 "mapped_parameters": model.composing_flows[name].mapped_parameters or {},
                 # kept so the deployment runs its sweeps and cached children as declared
                 "map_over": list((model.map_over or {}).get(name) or []), "cache": name in cached}
                for name in model.execution_order()
            ]
        else:
            flow_id = model.register(scheduling_service=scheduling_service)
        flow_row = {"flow_id": flow_id, "flow_name": model.name, "project_name": project_name}
        if row is not None:
            model_db_service.store_flow(deployment_id=row.deployment_id, **flow_row)
            deployment_id = row.deployment_id
        else:
            deployment_id = model_db_service.store_deployment_with_flow(
                dict(model_id=self.model_id, version=version,
                     source=source or f"flow {project_name}/{model.name}",
                     sha256=sha256 or _fingerprint(model, image), image=image or None,
                     package_import_name=package_import_name, is_live=is_live, asset_dir=asset_dir),
                flow_row,
                composing_flows=composing,
                project_description=project_description,
            )
        return self.load_deployment(deployment_id, model_db_service=model_db_service,
                                    scheduling_service=scheduling_service)

    @staticmethod
    def _flow_from_source(source_path: str, project_name: Optional[str], image: Optional[str]):
        """Install a model package with the environment solver and find its flow (LUME-services' way)."""
        from lume_services.environment.solver import Source  # the environment solver (issue 21)

        source = Source(path=source_path)
        installation = source.install()
        flow = installation.load_flow()  # NoFlowFoundInPackageError names the entry points it has
        return flow, source.version, source.checksum, image or source.image, source.name, source.path

    # --- running ------------------------------------------------------------------

    def _loaded(self, model_db_service: "ModelDBService", scheduling_service: SchedulingService) -> Deployment:
        if self.deployment is None:
            self.load_deployment(model_db_service=model_db_service, scheduling_service=scheduling_service)
        return self.deployment

    @inject
    def run(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        **kwargs: Any,
    ) -> Any:
        """Run the loaded deployment's flow (the latest deployment's when none is loaded).

        Args:
            parameters: the flow's parameter values by name.
            scheduling_service: the service to run with; injected when omitted.
            model_db_service: the model database service; injected when omitted.
            **kwargs: passed to :meth:`Flow.run <lume_services.flows.flow.Flow.run>` (``run_config``).

        Returns:
            What :meth:`Flow.run <lume_services.flows.flow.Flow.run>` returns:
            the final state locally, the flow run id on a server.

        Raises:
            DeploymentNotRegisteredError: the model has no deployment.
        """
        deployment = self._loaded(model_db_service, scheduling_service)
        return deployment.run(parameters, scheduling_service=scheduling_service, **kwargs)

    @inject
    def run_and_return(
        self,
        parameters: Optional[Dict[str, Any]] = None,
        task_name: Optional[str] = None,
        scheduling_service: SchedulingService = Provide[Context.scheduling_service],
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        **kwargs: Any,
    ) -> Any:
        """Run the loaded deployment's flow and return a task's result (all tasks' when ``task_name`` is ``None``).

        Raises:
            DeploymentNotRegisteredError: the model has no deployment.
            FlowFailedError: the run failed; the error names each failed task.
        """
        deployment = self._loaded(model_db_service, scheduling_service)
        return deployment.run_and_return(parameters, task_name=task_name, scheduling_service=scheduling_service,
                                         **kwargs)

    # --- results ------------------------------------------------------------------

    @inject
    def get_results(
        self,
        results_db_service: ResultsDBService = Provide[Context.results_db_service],
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        all_deployments: bool = False,
        query: Optional[dict] = None,
    ) -> List[Result]:
        """The results the model's flows stored: of the loaded deployment, or of all its deployments.

        The deployments and their flows are read in one query of the model
        database, and the results in one query of each project's collection
        (a model's flows usually share one project), never one per deployment.

        Args:
            results_db_service: the results database service; injected when omitted.
            model_db_service: the model database service; injected when omitted.
            all_deployments: results of every deployment of the model (by default,
                of the loaded deployment: the latest when none is loaded).
            query: dotted paths mapped to the values the results must have.

        Returns:
            The results, each as the type that stored it, oldest deployment first.
        """
        return [result for result, _ in self._results(results_db_service, model_db_service, all_deployments, query)]

    def _results(self, results_db_service, model_db_service, all_deployments: bool, query: Optional[dict]):
        rows = model_db_service.get_model_flows(self.model_id)
        if not all_deployments:
            if self.deployment is None:
                self.load_deployment(model_db_service=model_db_service)
            rows = [row for row in rows if row["deployment_id"] == self.deployment.deployment_id]
        by_project: Dict[str, Dict[str, dict]] = {}
        for row in rows:
            by_project.setdefault(row["project_name"], {})[row["flow_id"]] = row
        found = []
        for project_name, flows in by_project.items():
            criteria = dict(query or {})
            if len(flows) == 1 and "flow_id" not in criteria:
                criteria["flow_id"] = next(iter(flows))  # one flow: the database's flow_id index finds them
            for document in results_db_service.find(project_name, criteria):
                row = flows.get(document.get("flow_id"))
                if row is None:
                    continue  # another flow's result in the same project
                document = {k: v for k, v in document.items() if k != "_id"}
                result_type = get_result_from_string(document.get("result_type_string") or "")
                found.append((result_type.parse_obj(document), row))
        order = {row["deployment_id"]: i for i, row in enumerate(rows)}
        found.sort(key=lambda pair: order[pair[1]["deployment_id"]])
        return found

    @inject
    def get_results_df(
        self,
        results_db_service: ResultsDBService = Provide[Context.results_db_service],
        model_db_service: "ModelDBService" = Provide[Context.model_db_service],
        all_deployments: bool = False,
        query: Optional[dict] = None,
    ) -> "pandas.DataFrame":
        """The results of :meth:`get_results` as a pandas DataFrame, one row per result.

        The columns are the results' fields flattened (``inputs`` and
        ``outputs`` by their keys, as LUME-services flattened them), with the
        ``deployment_id`` and ``version`` of the deployment each came from.

        Raises:
            MissingExtraError: pandas is not installed (``pip install 'lume-services[modeldb]'``).
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise MissingExtraError(feature="Model.get_results_df", module="pandas", extra="modeldb") from exc
        records = []
        for result, row in self._results(results_db_service, model_db_service, all_deployments, query):
            record = flatten_dict(result.dict())
            record.update(deployment_id=row["deployment_id"], version=row["version"])
            records.append(record)
        return pd.DataFrame.from_records(records)


def _as_flow_model(flow: Any, project_name: str, image: Optional[str]) -> Flow:
    """The ``Flow`` model of what ``store_deployment`` was given."""
    if isinstance(flow, Flow):
        if flow.project_name is None:
            flow.project_name = project_name
        if image:
            flow.image = image
        return flow
    # a prefect.Flow
    values: Dict[str, Any] = {"name": flow.name, "project_name": project_name, "prefect_flow": flow}
    if image:
        values["image"] = image
    return Flow(**values)


def _fingerprint(model: Flow, image: Optional[str]) -> str:
    """The digest the scheduling backend registers the flow by (the flow's code and structure)."""
    from lume_services.services.scheduling.fingerprint import flow_fingerprint

    return flow_fingerprint(model.prefect_flow, image, list(model.labels))
