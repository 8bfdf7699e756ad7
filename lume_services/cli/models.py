"""``lume-services models`` and ``lume-services deployments``: store, list and run models and their deployments."""

from typing import Any, Dict, List

import click

from lume_services.cli._collect import flow_from_spec
from lume_services.cli._options import json_option, parse_parameters
from lume_services.cli._output import InputError, emit, note


def _model_db_service():
    from lume_services.config import context

    return context.model_db_service()


_MODEL_COLUMNS = ("model_id", "author", "laboratory", "facility", "beampath", "description", "created")
_DEPLOYMENT_COLUMNS = ("deployment_id", "model_id", "version", "deploy_date", "is_live", "image", "source",
                       "package_import_name", "asset_dir")


def _row(row: Any, columns) -> Dict[str, Any]:
    values = {column: getattr(row, column) for column in columns}
    if "is_live" in values:
        values["is_live"] = bool(values["is_live"])
    return values


def _deployment_document(deployment) -> Dict[str, Any]:
    document = _row(deployment.metadata, _DEPLOYMENT_COLUMNS)
    document["sha256"] = deployment.metadata.sha_256
    document["flow"] = {"name": deployment.flow.name, "flow_id": deployment.flow.flow_id,
                        "project_name": deployment.flow.project_name,
                        "flow_of_flows": type(deployment.flow).__name__ == "FlowOfFlows"}
    return document


@click.group()
def models():
    """Store, list and run models (the model database)."""


@models.command("create")
@click.option("--author", required=True, help="Who made the model.")
@click.option("--laboratory", required=True, help="The laboratory.")
@click.option("--facility", required=True, help="The facility of the laboratory.")
@click.option("--beampath", required=True, help="The beam path the model is for.")
@click.option("--description", required=True, help="What the model does.")
@json_option
def create_model(author, laboratory, facility, beampath, description, as_json):
    """Store a model (a model with the same five values is the same model: it is shown, not stored again)."""
    from lume_services.errors import ModelNotFoundError
    from lume_services.models import Model

    values = dict(author=author, laboratory=laboratory, facility=facility, beampath=beampath, description=description)
    service = _model_db_service()
    try:
        service.get_model(**values)
        status = "exists"
    except ModelNotFoundError:
        status = "created"
    model = Model.create_model(**values, model_db_service=service)
    document = {**_row(model.metadata, _MODEL_COLUMNS), "status": status}
    emit(document, as_json, lambda d: click.echo(f"model {d['model_id']}  {d['status']}  {d['description']}"))


@models.command("list")
@json_option
def list_models(as_json):
    """List the stored models."""
    rows = [_row(row, _MODEL_COLUMNS) for row in _model_db_service().get_models()]

    def text(rows):
        for r in rows:
            click.echo(f"{r['model_id']}  {r['author']}  {r['laboratory']}/{r['facility']}/{r['beampath']}  "
                       f"{r['description']}")

    emit(rows, as_json, text)


@models.command("run")
@click.argument("model_id", type=int)
@click.option("--deployment", "deployment_id", type=int, default=None,
              help="Run this deployment (default: the model's latest).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter's value, as JSON or text (repeatable).")
@click.option("--task", "task_name", default=None, help="Print only this task's result.")
@json_option
def run_model(model_id, deployment_id, params, task_name, as_json):
    """Run a model's deployment (the latest by default) and print its results as JSON."""
    from lume_services.models import Model

    model = Model(model_id=model_id)
    deployment = model.load_deployment(deployment_id)
    note(f"running deployment {deployment.deployment_id} (version {deployment.metadata.version}) "
         f"of model {model_id}: flow {deployment.flow.name!r}")
    results = model.run_and_return(parse_parameters(params), task_name=task_name)
    if as_json:
        emit({"model_id": model_id, "deployment_id": deployment.deployment_id,
              "version": deployment.metadata.version, "results": results}, True)
    else:
        emit(results, False)


@models.command("results")
@click.argument("model_id", type=int)
@click.option("--all-deployments", is_flag=True, help="Results of every deployment (default: the latest's).")
@click.option("--deployment", "deployment_id", type=int, default=None, help="Results of this deployment.")
@click.option("-q", "--query", "query", multiple=True, metavar="PATH=VALUE",
              help="Only results whose dotted PATH equals VALUE (JSON or text; repeatable), e.g. inputs.x=1.")
@json_option
def model_results(model_id, all_deployments, deployment_id, query, as_json):
    """Print a model's results as a table (one row per result; --json: a list of rows)."""
    from lume_services.models import Model

    if all_deployments and deployment_id is not None:
        raise InputError("give --all-deployments or --deployment, not both")
    model = Model(model_id=model_id)
    if not all_deployments:
        model.load_deployment(deployment_id)
    df = model.get_results_df(all_deployments=all_deployments, query=parse_parameters(query, hint="--query"))
    if as_json:
        emit(df.to_dict(orient="records"), True)
    elif df.empty:
        note(f"model {model_id} has no results{'' if all_deployments else ' for this deployment'}")
    else:
        click.echo(df.to_string(index=False))


@click.group()
def deployments():
    """Store, list and show the deployments of models."""


@deployments.command("create")
@click.argument("model_id", type=int)
@click.argument("flow_spec", metavar="MODULE:FLOW", required=False)
@click.option("--flow-of-flows", "yaml_file", type=click.Path(dir_okay=False), default=None,
              help="Deploy the flow of flows this YAML file declares (instead of MODULE:FLOW).")
@click.option("--version", "version", required=True, help="The deployment's version (unique per model).")
@click.option("--project", "project_name", default=None,
              help="The project its flow is registered in (a flow of flows' own by default).")
@click.option("--image", default=None, help="The image the flow runs in (container backends).")
@click.option("--source", default=None, help="Where the deployment's code comes from (recorded).")
@click.option("--live/--not-live", "is_live", default=True, help="Whether the deployment is in service.")
@json_option
def create_deployment(model_id, flow_spec, yaml_file, version, project_name, image, source, is_live, as_json):
    """Register a flow (MODULE:FLOW, or a flow of flows' YAML) and store it as a deployment of MODEL_ID."""
    from lume_services.models import Model

    if (flow_spec is None) == (yaml_file is None):
        raise InputError("give the flow to deploy: MODULE:FLOW or --flow-of-flows FILE (one of them)")
    if yaml_file is not None:
        from lume_services.flows.flow_of_flows import FlowOfFlows

        flow: Any = FlowOfFlows.from_yaml(yaml_file)
        project_name = project_name or flow.project_name
    else:
        flow = flow_from_spec(flow_spec).flow
    if project_name is None:
        raise InputError("give --project: the project the flow is registered in")
    model = Model(model_id=model_id)
    deployment = model.store_deployment(source, project_name, is_live, flow=flow, version=version, image=image)
    document = _deployment_document(deployment)
    emit(document, as_json, lambda d: click.echo(
        f"deployment {d['deployment_id']}  model {d['model_id']}  version {d['version']}  "
        f"flow {d['flow']['project_name']}/{d['flow']['name']}  id {d['flow']['flow_id']}"))


@deployments.command("list")
@click.option("--model", "model_id", type=int, default=None, help="Only this model's deployments.")
@json_option
def list_deployments(model_id, as_json):
    """List the stored deployments with their flows, oldest first."""
    from lume_services.errors import DeploymentNotFoundError, FlowNotFoundError

    service = _model_db_service()
    criteria = {} if model_id is None else {"model_id": model_id}
    try:
        rows = service.get_deployments(**criteria)
    except DeploymentNotFoundError:
        rows = []
    listed: List[Dict[str, Any]] = []
    for row in rows:
        document = _row(row, _DEPLOYMENT_COLUMNS)
        document["sha256"] = row.sha_256
        try:
            flow = service.get_deployment_flow(row.deployment_id)
            document["flow"] = {"name": flow.flow_name, "flow_id": flow.flow_id, "project_name": flow.project_name}
        except FlowNotFoundError:  # a deployment stored without its flow
            document["flow"] = None
        listed.append(document)

    def text(rows):
        for r in rows:
            flow = r["flow"]
            where = f"{flow['project_name']}/{flow['name']}" if flow else "(no flow)"
            click.echo(f"{r['deployment_id']}  model {r['model_id']}  version {r['version']}  "
                       f"{'live' if r['is_live'] else 'not live'}  {where}")

    emit(listed, as_json, text)


@deployments.command("show")
@click.argument("deployment_id", type=int)
@json_option
def show_deployment(deployment_id, as_json):
    """Show a deployment with its flow (a flow of flows with its composing flows)."""
    from lume_services.models import Deployment

    deployment = Deployment.load(deployment_id)
    document = _deployment_document(deployment)
    if document["flow"]["flow_of_flows"]:
        document["flow"]["composing_flows"] = {
            name: {"mapped_parameters": {p: m.dict() for p, m in (child.mapped_parameters or {}).items()}}
            for name, child in deployment.flow.composing_flows.items()
        }
    emit(document, as_json, lambda d: click.echo(
        f"deployment {d['deployment_id']}  model {d['model_id']}  version {d['version']}  "
        f"flow {d['flow']['project_name']}/{d['flow']['name']}  id {d['flow']['flow_id']}"))
