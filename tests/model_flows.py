"""Flows the model tests deploy: two versions of one surrogate, each storing its result."""

from prefect import Flow, Parameter, task

from lume_services.results.result import Result
from lume_services.tasks.db import SaveDBResult

PROJECT = "surrogates"
save_result = SaveDBResult()


@task
def evaluate_v1(x):
    return Result(project_name=PROJECT, inputs={"x": x}, outputs={"y": 2 * x})


@task
def evaluate_v2(x):
    return Result(project_name=PROJECT, inputs={"x": x}, outputs={"y": 3 * x})


with Flow("surrogate") as surrogate_v1:
    save_result(evaluate_v1(Parameter("x")))

with Flow("surrogate") as surrogate_v2:
    save_result(evaluate_v2(Parameter("x")))
