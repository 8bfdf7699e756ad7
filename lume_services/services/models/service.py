"""The model database service: store and find models, deployments, projects, flows and flows of flows."""

import json
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence

from sqlalchemy import desc, insert, select

from lume_services.errors import (
    DeploymentNotFoundError,
    FlowNotInModelDBError,
    FlowOfFlowsNotFoundError,
    FlowAlreadyDeployedError,
    ModelNotFoundError,
    ProjectNotFoundError,
)
from lume_services.services.models.db.db import ModelDB
from lume_services.services.models.db.schema import (
    Base,
    ChildSetting,
    Deployment,
    Flow,
    FlowOfFlows,
    MappedParameter,
    Model,
    Project,
)
from lume_services.services.models.utils import validate_kwargs_exist

logger = logging.getLogger(__name__)


def _where(table: Any, criteria: Mapping[str, Any]) -> list:
    """``table.<column> == value`` for each criterion, by attribute or column name."""
    clauses = []
    for key, value in criteria.items():
        column = getattr(table, key, None) if key in table.__mapper__.column_attrs else None
        if column is None:
            column = table.__table__.c[key]
        clauses.append(column == value)
    return clauses


def _first_key(key: Sequence[Any]) -> Any:
    return key[0] if len(key) else None


class ModelDBService:
    """Stores and finds what the model database holds.

    Rows come back as the ORM objects of
    :mod:`~lume_services.services.models.db.schema`, detached from their
    session: their columns are readable, their relationships are not loaded
    (ask the service for related rows).

    Args:
        model_db: the database (embedded SQLite by default, or MySQL/MariaDB).
    """

    def __init__(self, model_db: ModelDB):
        self._model_db = model_db

    def __repr__(self) -> str:
        return f"ModelDBService({self._model_db!r})"

    @property
    def model_db(self) -> ModelDB:
        """The database this service uses."""
        return self._model_db

    # --- storing ------------------------------------------------------------------

    @validate_kwargs_exist(Model)
    def store_model(self, author: str, laboratory: str, facility: str, beampath: str, description: str) -> int:
        """Store a model.

        Returns:
            The new model's id.

        Raises:
            ModelDBConflictError: a model with these five values is stored already.
        """
        statement = insert(Model).values(
            author=author, laboratory=laboratory, facility=facility, beampath=beampath, description=description
        )
        return _first_key(self._model_db.insert(statement))

    def store_deployment(
        self,
        model_id: int,
        version: str,
        source: str,
        sha256: str,
        image: Optional[str],
        package_import_name: Optional[str] = None,
        is_live: bool = False,
        asset_dir: Optional[str] = None,
    ) -> int:
        """Store a deployment of a model.

        Args:
            model_id: the model deployed.
            version: its version (unique per model).
            source: where its code comes from (a path or URL).
            sha256: the checksum of the source.
            image: the container image its flow runs in.
            package_import_name: the import name of its package (LUME-services'
                8adfccc column; stored empty when not given, as 57027da had none).
            is_live: whether it is the deployment in service.
            asset_dir: a folder of its assets on a filesystem.

        Returns:
            The new deployment's id.

        Raises:
            ModelDBConflictError: the model has this version already, or is not stored.
        """
        statement = insert(Deployment).values(
            model_id=model_id,
            version=version,
            source=source,
            sha256=sha256,
            image=image,
            is_live=bool(is_live),
            asset_dir=asset_dir,
            package_import_name=package_import_name or "",
        )
        return _first_key(self._model_db.insert(statement))

    def store_project(self, project_name: str, description: str) -> str:
        """Store a project (as named on the scheduling backend).

        Returns:
            The project's name.

        Raises:
            ModelDBConflictError: a project of this name is stored already.
        """
        statement = insert(Project).values(project_name=project_name, description=description)
        return _first_key(self._model_db.insert(statement))

    def store_flow(self, deployment_id: int, flow_id: str, flow_name: str, project_name: str) -> str:
        """Store the flow of a deployment.

        Args:
            deployment_id: the deployment the flow runs.
            flow_id: the id the scheduling backend gave the flow at registration.
            flow_name: the flow's name.
            project_name: the project it is registered in (a stored project).

        Returns:
            The flow id.

        Raises:
            ModelDBConflictError: the flow id is stored already, or the
                deployment or project is not stored.
        """
        statement = insert(Flow).values(
            flow_id=flow_id, deployment_id=deployment_id, flow_name=flow_name, project_name=project_name
        )
        return _first_key(self._model_db.insert(statement))

    def store_flow_of_flows(self, parent_flow_id: str, composing_flows: Sequence[Mapping[str, Any]]) -> List[str]:
        """Store which flows compose a flow of flows, in order, with their mapped parameters and settings.

        All rows are written in one transaction, or none.

        Args:
            parent_flow_id: the stored flow of flows.
            composing_flows: in execution order, each ``{"flow_id": ..., "mapped_parameters":
                {parameter: {"parent_flow_name", "parent_task_name", "map_type",
                "attribute", "attribute_index"}}}`` (the fields of a
                :class:`~lume_services.flows.flow.MappedParameter`; a model of
                one is accepted too), and optionally ``"map_over": [parameter, ...]``
                (the parameters it sweeps) and ``"cache": True`` (it reuses its
                recorded results). Each flow must be stored.

        Returns:
            The composing flows' ids, in order.

        Raises:
            ModelDBConflictError: a flow is not stored, or is stored already
                as a composing flow of this flow of flows.
        """
        self._model_db.insert_many(self._composition(parent_flow_id, composing_flows))
        return [child["flow_id"] for child in composing_flows]

    @staticmethod
    def _composition(parent_flow_id: str, composing_flows: Sequence[Mapping[str, Any]]) -> list:
        """The inserts of a flow of flows' entries and mapped parameters."""
        statements = []
        for position, child in enumerate(composing_flows):
            statements.append(
                insert(FlowOfFlows).values(parent_flow_id=parent_flow_id, flow_id=child["flow_id"], position=position)
            )
            for parameter, mapping in (child.get("mapped_parameters") or {}).items():
                values = mapping.dict() if hasattr(mapping, "dict") else dict(mapping)
                index = values.get("attribute_index")
                statements.append(
                    insert(MappedParameter).values(
                        parent_flow_id=parent_flow_id,
                        flow_id=child["flow_id"],
                        parameter_name=parameter,
                        parent_flow_name=values["parent_flow_name"],
                        parent_task_name=values["parent_task_name"],
                        map_type=values.get("map_type", "raw"),
                        attribute=values.get("attribute"),
                        attribute_index=None if index is None else json.dumps(list(index)),
                    )
                )
            map_over = list(child.get("map_over") or [])
            if map_over or child.get("cache"):
                statements.append(
                    insert(ChildSetting).values(
                        parent_flow_id=parent_flow_id,
                        flow_id=child["flow_id"],
                        map_over=json.dumps(map_over) if map_over else None,
                        cache=bool(child.get("cache")),
                    )
                )
        return statements

    def store_deployment_with_flow(
        self,
        deployment: Mapping[str, Any],
        flow: Mapping[str, Any],
        composing_flows: Optional[Sequence[Mapping[str, Any]]] = None,
        project_description: str = "",
    ) -> int:
        """Store a deployment, its project when missing and its flow, in one transaction.

        For a flow of flows, the composing flows not stored yet are stored as
        flows of the deployment, and the composition with its mapped
        parameters is stored too. Nothing is written when any part is refused.

        Args:
            deployment: the arguments of :meth:`store_deployment`.
            flow: ``flow_id``, ``flow_name``, ``project_name`` of the deployment's flow
                (``deployment_id`` is the new deployment's).
            composing_flows: for a flow of flows, in execution order, each with
                ``flow_id``, ``flow_name``, ``project_name`` and ``mapped_parameters``,
                and optionally ``map_over`` and ``cache`` (see :meth:`store_flow_of_flows`).
            project_description: the description of a project stored here.

        Returns:
            The new deployment's id.

        Raises:
            ModelDBConflictError: the model has this version already, or is not
                stored; nothing was written.
            FlowAlreadyDeployedError: the flow is another deployment's already.
        """
        values = dict(deployment)
        values["package_import_name"] = values.get("package_import_name") or ""
        values["is_live"] = bool(values.get("is_live", False))
        flows = [dict(flow)] + [dict(child) for child in composing_flows or ()]
        with self._model_db.transaction() as tx:
            projects = {f["project_name"] for f in flows}
            stored = set(tx.select(select(Project.project_name).where(Project.project_name.in_(projects))))
            for project_name in sorted(projects - stored):
                tx.insert(insert(Project).values(project_name=project_name, description=project_description))
            owner = tx.select(select(Flow.deployment_id).where(Flow.flow_id == flow["flow_id"]))
            if owner:
                # flow_id is the flow table's key (LUME-services' schema): one deployment per registered flow
                raise FlowAlreadyDeployedError(flow["flow_name"], flow["flow_id"], owner[0])
            deployment_id = tx.insert(insert(Deployment).values(**values))
            ids = [f["flow_id"] for f in flows]
            known = set(tx.select(select(Flow.flow_id).where(Flow.flow_id.in_(ids))))
            for row in flows:
                if row["flow_id"] not in known:
                    known.add(row["flow_id"])
                    tx.insert(insert(Flow).values(flow_id=row["flow_id"], flow_name=row["flow_name"],
                                                  project_name=row["project_name"], deployment_id=deployment_id))
            if composing_flows:
                for statement in self._composition(flow["flow_id"], composing_flows):
                    tx.insert(statement)
        return deployment_id

    # --- finding ------------------------------------------------------------------

    def _one(self, table: Any, criteria: Mapping[str, Any], not_found: type, key: str) -> Any:
        rows = self._model_db.select(select(table).where(*_where(table, criteria)))
        if not rows:
            raise not_found(criteria)
        if len(rows) > 1:
            logger.warning("%d rows of %s match %s; the first (%s %s) is returned",
                           len(rows), table.__tablename__, dict(criteria), key, getattr(rows[0], key))
        return rows[0]

    @validate_kwargs_exist(Model)
    def get_model(self, **kwargs: Any) -> Model:
        """The model matching the criteria (column=value); the first when several do.

        Raises:
            ModelNotFoundError: none matches.
            UnknownColumnError: a criterion is not a column of ``model``.
        """
        return self._one(Model, kwargs, ModelNotFoundError, "model_id")

    @validate_kwargs_exist(Model)
    def get_models(self, **kwargs: Any) -> List[Model]:
        """Every model matching the criteria (all with none), by id."""
        return self._model_db.select(select(Model).where(*_where(Model, kwargs)).order_by(Model.model_id))

    @validate_kwargs_exist(Deployment)
    def get_deployment(self, **kwargs: Any) -> Deployment:
        """The deployment matching the criteria; the first when several do.

        Raises:
            DeploymentNotFoundError: none matches.
            UnknownColumnError: a criterion is not a column of ``deployment``.
        """
        return self._one(Deployment, kwargs, DeploymentNotFoundError, "deployment_id")

    @validate_kwargs_exist(Deployment)
    def get_deployments(self, **kwargs: Any) -> List[Deployment]:
        """Every deployment matching the criteria, oldest first.

        Raises:
            DeploymentNotFoundError: none matches (as in LUME-services).
        """
        rows = self._model_db.select(
            select(Deployment).where(*_where(Deployment, kwargs)).order_by(Deployment.deploy_date, Deployment.deployment_id)
        )
        if not rows:
            raise DeploymentNotFoundError(kwargs)
        return rows

    @validate_kwargs_exist(Deployment)
    def get_latest_deployment(self, **kwargs: Any) -> Deployment:
        """The newest deployment matching the criteria, by deploy date (then by id:
        the database keeps dates to the second).

        Raises:
            DeploymentNotFoundError: none matches.
        """
        query = (
            select(Deployment)
            .where(*_where(Deployment, kwargs))
            .order_by(desc(Deployment.deploy_date), desc(Deployment.deployment_id))
            .limit(1)
        )
        rows = self._model_db.select(query)
        if not rows:
            raise DeploymentNotFoundError(kwargs)
        return rows[0]

    @validate_kwargs_exist(Project)
    def get_project(self, **kwargs: Any) -> Project:
        """The project matching the criteria.

        Raises:
            ProjectNotFoundError: none matches.
        """
        return self._one(Project, kwargs, ProjectNotFoundError, "project_name")

    @validate_kwargs_exist(Project)
    def get_projects(self, **kwargs: Any) -> List[Project]:
        """Every project matching the criteria, by name."""
        return self._model_db.select(select(Project).where(*_where(Project, kwargs)).order_by(Project.project_name))

    @validate_kwargs_exist(Flow)
    def get_flow(self, **kwargs: Any) -> Flow:
        """The flow matching the criteria.

        Raises:
            FlowNotInModelDBError: none matches (a ``FlowNotFoundError``).
        """
        return self._one(Flow, kwargs, FlowNotInModelDBError, "flow_id")

    @validate_kwargs_exist(Flow)
    def get_flows(self, **kwargs: Any) -> List[Flow]:
        """Every flow matching the criteria, by name."""
        return self._model_db.select(select(Flow).where(*_where(Flow, kwargs)).order_by(Flow.flow_name, Flow.flow_id))

    def get_deployment_flow(self, deployment_id: int) -> Flow:
        """The flow a deployment runs: its flow that composes no other flow of the deployment.

        A deployment of a flow of flows also stores the composing flows that
        were not stored before; the one it runs is the flow of flows.

        Raises:
            FlowNotInModelDBError: the deployment has no flow.
        """
        flows = self.get_flows(deployment_id=deployment_id)
        if not flows:
            raise FlowNotInModelDBError({"deployment_id": deployment_id})
        ids = [flow.flow_id for flow in flows]
        children = set(
            self._model_db.select(
                select(FlowOfFlows.flow_id).where(FlowOfFlows.parent_flow_id.in_(ids), FlowOfFlows.flow_id.in_(ids))
            )
        )
        return next((flow for flow in flows if flow.flow_id not in children), flows[0])

    @validate_kwargs_exist(FlowOfFlows)
    def get_flow_of_flows(self, **kwargs: Any) -> List[Flow]:
        """The composing flows of the flow-of-flows entries matching the criteria, in execution order.

        ``get_flow_of_flows(parent_flow_id=...)`` gives the flows composing a flow of flows.

        Raises:
            FlowOfFlowsNotFoundError: no entry matches (the flow is no flow of flows).
        """
        query = (
            select(Flow, FlowOfFlows.position)
            .join(FlowOfFlows, FlowOfFlows.flow_id == Flow.flow_id)
            .where(*_where(FlowOfFlows, kwargs))
            .order_by(FlowOfFlows.parent_flow_id, FlowOfFlows.position)
        )
        rows = self._model_db.select(query)
        if not rows:
            raise FlowOfFlowsNotFoundError(kwargs)
        return rows

    def get_mapped_parameters(self, parent_flow_id: str) -> Dict[str, Dict[str, Dict[str, Any]]]:
        """The mapped parameters of a flow of flows: composing flow id -> parameter -> mapping.

        Each mapping has the fields of a :class:`~lume_services.flows.flow.MappedParameter`.
        """
        rows = self._model_db.select(
            select(MappedParameter).where(MappedParameter.parent_flow_id == parent_flow_id).order_by(MappedParameter.id)
        )
        mapped: Dict[str, Dict[str, Dict[str, Any]]] = {}
        for row in rows:
            mapping: Dict[str, Any] = {
                "parent_flow_name": row.parent_flow_name,
                "parent_task_name": row.parent_task_name,
                "map_type": row.map_type,
            }
            if row.attribute is not None:
                mapping["attribute"] = row.attribute
            if row.attribute_index is not None:
                mapping["attribute_index"] = json.loads(row.attribute_index)
            mapped.setdefault(row.flow_id, {})[row.parameter_name] = mapping
        return mapped

    def _child_settings(self, parent_flow_id: str) -> Dict[str, Dict[str, Any]]:
        """Composing flow id -> its ``map_over`` and ``cache`` in a flow of flows (only children that have one)."""
        rows = self._model_db.select(select(ChildSetting).where(ChildSetting.parent_flow_id == parent_flow_id))
        settings: Dict[str, Dict[str, Any]] = {}
        for row in rows:
            setting: Dict[str, Any] = {}
            if row.map_over:
                setting["map_over"] = json.loads(row.map_over)
            if row.cache:
                setting["cache"] = True
            settings[row.flow_id] = setting
        return settings

    def get_flow_of_flows_declaration(self, **kwargs: Any) -> Dict[str, Any]:
        """A stored flow of flows as a declaration ``FlowOfFlows(**declaration)`` takes.

        Args:
            **kwargs: criteria of the flow of flows' own row (``flow_name`` and
                ``project_name``, or ``flow_id``).

        Returns:
            ``{"name", "project_name", "flow_id", "composing_flows": [{"name",
            "project_name", "mapped_parameters", "map_over", "cache"}, ...]}``, children
            in execution order (``mapped_parameters``, ``map_over`` and ``cache``
            only for a child that has them).

        Raises:
            FlowNotInModelDBError: no flow matches.
            FlowOfFlowsNotFoundError: the flow is no flow of flows.
        """
        parent = self.get_flow(**kwargs)
        children = self.get_flow_of_flows(parent_flow_id=parent.flow_id)
        mapped = self.get_mapped_parameters(parent.flow_id)
        settings = self._child_settings(parent.flow_id)
        return {
            "name": parent.flow_name,
            "project_name": parent.project_name,
            "flow_id": parent.flow_id,
            "composing_flows": [
                {"name": child.flow_name, "project_name": child.project_name,
                 **({"mapped_parameters": mapped[child.flow_id]} if child.flow_id in mapped else {}),
                 **settings.get(child.flow_id, {})}
                for child in children
            ],
        }

    def get_model_flows(self, model_id: int) -> List[Dict[str, Any]]:
        """Every deployment of a model with its flows, in one query, oldest deployment first.

        Returns:
            One dict per (deployment, flow): ``deployment_id``, ``version``,
            ``deploy_date``, ``is_live``, ``flow_id``, ``flow_name``, ``project_name``.
        """
        query = (
            select(
                Deployment.deployment_id, Deployment.version, Deployment.deploy_date, Deployment.is_live,
                Flow.flow_id, Flow.flow_name, Flow.project_name,
            )
            .join(Flow, Flow.deployment_id == Deployment.deployment_id)
            .where(Deployment.model_id == model_id)
            .order_by(Deployment.deploy_date, Deployment.deployment_id, Flow.flow_id)
        )
        names = ("deployment_id", "version", "deploy_date", "is_live", "flow_id", "flow_name", "project_name")
        return [dict(zip(names, row)) for row in self._model_db.rows(query)]

    def apply_schema(self) -> None:
        """Create the tables that are missing in the connected database."""
        self._model_db.apply_schema()


__all__ = ["ModelDBService", "Base"]
