"""The tables of the model database, as SQLAlchemy ORM classes.

The tables and columns are LUME-services' (its ``model-db-init.sql``), so a
database that it made opens here and one made here opens there: ``model``,
``deployment``, ``project``, ``flow`` and ``flow_of_flows``. Two tables are
new, and only added (a database LUME-services made gains them, its tables are
left as they are, and LUME-services ignores them):
``flow_of_flows_mapped_parameter``: LUME-services stored which flows compose
a flow of flows but not how their parameters are mapped, so a flow of flows
could not be loaded back from the database; here each mapping is a row.
``flow_of_flows_child_setting``: a composing flow's ``map_over`` (the
parameters it sweeps) and ``cache``, which LUME-services had no notion of;
without them a deployed flow of flows would run its sweeps and cached
children as plain children.
"""

from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.schema import Column, ForeignKey, UniqueConstraint
from sqlalchemy.sql import func
from sqlalchemy.types import Boolean, DateTime, Integer, String, Text

Base = declarative_base()


class Model(Base):
    """A model: who made it, for which beam path, what it does.

    One row per (author, laboratory, facility, beampath, description).
    """

    __tablename__ = "model"

    model_id = Column("model_id", Integer, primary_key=True, autoincrement=True)
    created = Column("created", DateTime(timezone=True), server_default=func.now())
    author = Column("author", String(50), nullable=False)
    laboratory = Column("laboratory", String(50), nullable=False)
    facility = Column("facility", String(50), nullable=False)
    beampath = Column("beampath", String(50), nullable=False)
    description = Column("description", String(255), nullable=False)

    deployments = relationship("Deployment", back_populates="model")

    __table_args__ = (
        UniqueConstraint("author", "laboratory", "facility", "beampath", "description", name="_model_entry"),
    )

    def __repr__(self) -> str:
        return (
            f"Model(model_id={self.model_id!r}, created={self.created!r}, author={self.author!r}, "
            f"laboratory={self.laboratory!r}, facility={self.facility!r}, beampath={self.beampath!r}, "
            f"description={self.description!r})"
        )


class Deployment(Base):
    """A version of a model, with the flow that runs it (one per model and version)."""

    __tablename__ = "deployment"

    deployment_id = Column("deployment_id", Integer, primary_key=True, autoincrement=True)
    version = Column("version", String(10), nullable=False)
    deploy_date = Column("deploy_date", DateTime(timezone=True), server_default=func.now())
    package_import_name = Column("package_import_name", String(50), nullable=False)
    asset_dir = Column("asset_dir", String(255), nullable=True)
    source = Column("source", String(255), nullable=False)
    # the attribute is LUME-services' name; the column is sha256
    sha_256 = Column("sha256", String(64), nullable=False)
    image = Column("image", String(100), nullable=True)
    is_live = Column("is_live", Boolean, nullable=False)
    model_id = Column("model_id", ForeignKey("model.model_id"), nullable=False, onupdate="cascade")

    model = relationship("Model", back_populates="deployments", uselist=False)
    flow = relationship("Flow", back_populates="deployment", uselist=False)

    __table_args__ = (UniqueConstraint("model_id", "version", name="_deployment_unique"),)

    def __repr__(self) -> str:
        return (
            f"Deployment(deployment_id={self.deployment_id!r}, model_id={self.model_id!r}, "
            f"version={self.version!r}, deploy_date={self.deploy_date!r}, asset_dir={self.asset_dir!r}, "
            f"source={self.source!r}, sha256={self.sha_256!r}, image={self.image!r}, "
            f"is_live={self.is_live!r}, package_import_name={self.package_import_name!r})"
        )


class Project(Base):
    """A project flows are registered in (the scheduling backend's project)."""

    __tablename__ = "project"

    project_name = Column("project_name", String(50), primary_key=True)
    description = Column("description", String(255), nullable=False)

    flows = relationship("Flow", back_populates="project")

    def __repr__(self) -> str:
        return f"Project(project_name={self.project_name!r}, description={self.description!r})"


class Flow(Base):
    """A registered flow (its id is the scheduling backend's) and the deployment it belongs to."""

    __tablename__ = "flow"

    flow_id = Column("flow_id", String(255), primary_key=True, nullable=False)
    flow_name = Column("flow_name", String(50), nullable=False)
    project_name = Column("project_name", ForeignKey("project.project_name"), nullable=False, onupdate="cascade")
    deployment_id = Column(
        "deployment_id", ForeignKey("deployment.deployment_id"), nullable=False, onupdate="cascade"
    )

    deployment = relationship("Deployment", back_populates="flow", uselist=False)
    project = relationship("Project", back_populates="flows", uselist=False)

    def __repr__(self) -> str:
        return (
            f"Flow(flow_id={self.flow_id!r}, flow_name={self.flow_name!r}, "
            f"project_name={self.project_name!r}, deployment_id={self.deployment_id!r})"
        )


class FlowOfFlows(Base):
    """A composing flow of a flow of flows, at its position in the execution order."""

    __tablename__ = "flow_of_flows"

    # LUME-services' surrogate key: "_id" in the database
    id = Column("_id", Integer, primary_key=True, autoincrement=True)
    parent_flow_id = Column("parent_flow_id", ForeignKey("flow.flow_id"), nullable=False, onupdate="cascade")
    flow_id = Column("flow_id", ForeignKey("flow.flow_id"), nullable=False, onupdate="cascade")
    position = Column("position", Integer, nullable=False)

    parent_flow = relationship("Flow", foreign_keys="FlowOfFlows.parent_flow_id", uselist=False)
    flow = relationship("Flow", foreign_keys="FlowOfFlows.flow_id", backref="composing_flows", uselist=False)

    __table_args__ = (UniqueConstraint("parent_flow_id", "flow_id", name="_flow_of_flow_entry"),)

    def __repr__(self) -> str:
        return (
            f"FlowOfFlows(id={self.id!r}, flow_id={self.flow_id!r}, "
            f"parent_flow_id={self.parent_flow_id!r}, position={self.position!r})"
        )


class MappedParameter(Base):
    """A parameter of a composing flow whose value comes from another composing flow's task.

    New here (LUME-services lost the mappings): one row per mapped parameter,
    with the fields of :class:`lume_services.flows.flow.MappedParameter`.
    """

    __tablename__ = "flow_of_flows_mapped_parameter"

    id = Column("_id", Integer, primary_key=True, autoincrement=True)
    parent_flow_id = Column("parent_flow_id", ForeignKey("flow.flow_id"), nullable=False)
    flow_id = Column("flow_id", ForeignKey("flow.flow_id"), nullable=False)
    parameter_name = Column("parameter_name", String(255), nullable=False)
    parent_flow_name = Column("parent_flow_name", String(255), nullable=False)
    parent_task_name = Column("parent_task_name", String(255), nullable=False)
    map_type = Column("map_type", String(10), nullable=False)
    attribute = Column("attribute", String(255), nullable=True)
    # a JSON list of keys, or NULL
    attribute_index = Column("attribute_index", Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("parent_flow_id", "flow_id", "parameter_name", name="_mapped_parameter_entry"),
    )

    def __repr__(self) -> str:
        return (
            f"MappedParameter(parent_flow_id={self.parent_flow_id!r}, flow_id={self.flow_id!r}, "
            f"parameter_name={self.parameter_name!r}, parent_flow_name={self.parent_flow_name!r}, "
            f"parent_task_name={self.parent_task_name!r}, map_type={self.map_type!r})"
        )


class ChildSetting(Base):
    """How a composing flow runs in a flow of flows: the parameters it sweeps and whether it is cached.

    New here (LUME-services had neither): one row per composing flow that
    sweeps (``map_over``) or is cached (``cache``); a child with neither has no row.
    """

    __tablename__ = "flow_of_flows_child_setting"

    id = Column("_id", Integer, primary_key=True, autoincrement=True)
    parent_flow_id = Column("parent_flow_id", ForeignKey("flow.flow_id"), nullable=False)
    flow_id = Column("flow_id", ForeignKey("flow.flow_id"), nullable=False)
    # a JSON list of the parameters the child sweeps, or NULL
    map_over = Column("map_over", Text, nullable=True)
    cache = Column("cache", Boolean, nullable=False, default=False)

    __table_args__ = (UniqueConstraint("parent_flow_id", "flow_id", name="_child_setting_entry"),)

    def __repr__(self) -> str:
        return (
            f"ChildSetting(parent_flow_id={self.parent_flow_id!r}, flow_id={self.flow_id!r}, "
            f"map_over={self.map_over!r}, cache={self.cache!r})"
        )


#: the tables, in the order they are created (LUME-services' name, for its schema docs)
__table_schema__ = [Model, Project, Deployment, Flow, FlowOfFlows, MappedParameter, ChildSetting]
