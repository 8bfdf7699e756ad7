"""Flows written as LUME-services' users write them: ``configure_services()`` first,
then the packaged ``SaveFile``, ``LoadFile`` and ``SaveDBResult`` tasks.

``text_flow`` joins two texts and saves them to a file; ``result_flow`` loads
that file and stores the text as a result; ``equality_flow`` checks two texts
are equal; ``nothing_flow`` has a task that returns nothing. Importable by
module path, so a Prefect agent's flow runs load them as the tests' process does.
"""

from prefect import Flow, Parameter, task
from prefect.engine.results import PrefectResult

from lume_services.files import TextFile
from lume_services.results import Result
from lume_services.tasks import LoadFile, SaveDBResult, SaveFile, configure_services


@task
def join_texts(first, second):
    return first + second


save_text = SaveFile(name="save_text_file", task_run_name="save_text_file")

with Flow("compat-text") as text_flow:
    first = Parameter("text1")
    second = Parameter("text2")
    filename = Parameter("filename")
    filesystem_identifier = Parameter("filesystem_identifier")
    configured = configure_services()
    joined = join_texts(first, second)
    saved = save_text(
        obj=joined,
        file_type=TextFile,
        filename=filename,
        filesystem_identifier=filesystem_identifier,
    )
    saved.set_upstream(configured)


@task
def text_as_result(text):
    # no project and no flow id: the collection is Result's default, the flow id the run's
    return Result(inputs={"input1": text}, outputs={"output1": text})


load_text = LoadFile()
save_result = SaveDBResult()

with Flow("compat-result") as result_flow:
    file_rep = Parameter("file_rep")
    configured = configure_services()
    text = load_text(file_rep)
    stored = save_result(text_as_result(text))
    text.set_upstream(configured)
    stored.set_upstream(configured)


@task(name="check_text_equivalence", result=PrefectResult())
def check_text_equivalence(text1, text2):
    return text1 == text2


with Flow("compat-equality") as equality_flow:
    check_text_equivalence(Parameter("text1"), Parameter("text2"))
