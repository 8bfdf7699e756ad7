"""The example flows: text saved to a file, stored as a result, compared downstream.

Composed in ``flow_of_flows.yaml`` (a chain) and ``diamond.yaml``::

    save-text ──file──> store-text ──db──> compare-text
        └──────────────raw─────────────────────┘
"""

from prefect import Flow, Parameter, task

from lume_services.files.file import TextFile
from lume_services.results.result import Result
from lume_services.tasks.db import SaveDBResult
from lume_services.tasks.file import SaveFile, load_file

save_file = SaveFile()
save_db_result = SaveDBResult()


@task
def append_text(text1: str, text2: str) -> str:
    """Join two texts with a space."""
    return f"{text1} {text2}"


@task
def make_result(text: str, file_rep: dict) -> Result:
    """A result recording the text read and the file it came from."""
    return Result(
        project_name="examples",
        inputs={"filename": file_rep["filename"]},
        outputs={"text": text, "length": len(text)},
    )


@task
def compare(text1: str, text2: str) -> bool:
    """Whether two texts are equal."""
    return text1 == text2


@task
def shout(text: str) -> str:
    """The text in capitals."""
    return text.upper()


@task
def combine(stored: str, shouted: str) -> dict:
    """Both branches of the diamond, and whether they agree."""
    return {"stored": stored, "shouted": shouted, "agree": stored.upper() == shouted}


with Flow("save-text") as save_text:
    joined = append_text(Parameter("text1", default="hello"), Parameter("text2", default="world"))
    save_file(obj=joined, filename=Parameter("filename"), file_type=TextFile)

with Flow("store-text") as store_text:
    file_rep = Parameter("file_rep")
    save_db_result(make_result(load_file(file_rep), file_rep))

with Flow("compare-text") as compare_text:
    compare(Parameter("text1"), Parameter("text2"))

with Flow("shout-text") as shout_text:
    shout(Parameter("text"))

with Flow("combine-text") as combine_text:
    combine(Parameter("stored"), Parameter("shouted"))

#: every example flow by name
EXAMPLE_FLOWS = {
    flow.name: flow for flow in (save_text, store_text, compare_text, shout_text, combine_text)
}
