"""What importing the flow models leaves behind in the garbage collector (issue 18's import goal, B11).

``lume_services.flows`` pauses the collector while the flow models, Prefect,
pydantic and dependency-injector are imported, and moves what the import made
to the oldest generation before resuming it: the program's first allocations
after the import must not pay for walking the import's objects.
"""

import os
import subprocess
import sys

import pytest


def _in_a_fresh_process(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PREFECT__LOGGING__LEVEL": "WARNING"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_flow_models_import_leaves_its_objects_in_the_oldest_generation_with_the_collector_on():
    young, old, enabled = _in_a_fresh_process(
        "import gc\nimport lume_services.flows.flow\n"
        "print(len(gc.get_objects(0)) + len(gc.get_objects(1)), len(gc.get_objects(2)), gc.isenabled())"
    ).split()
    assert enabled == "True"
    assert int(young) < 5_000 < 50_000 < int(old)


@pytest.mark.parametrize("before, after", [("gc.disable()", "not gc.isenabled()"),
                                           ("gc.freeze(); frozen = gc.get_freeze_count()",
                                            "gc.isenabled() and gc.get_freeze_count() > frozen // 2 > 0")])  # still frozen (a few freed)
def test_the_flow_models_import_leaves_the_programs_own_collector_policy_as_it_was(before, after):
    assert _in_a_fresh_process(f"import gc\n{before}\nimport lume_services.flows.flow\nprint({after})") == "True"


#: lume-services' modules the flow models do not need at import: the services the container provides
#: but the models only name (the files service, the model and results databases, the backend interface,
#: the scheduling service and the run history's records) and what those import, imported when a service is first made or a run is asked for.
MADE_LAZY = [
    "lume_services.masking",
    "lume_services.services.files",
    "lume_services.services.files.filesystems",
    "lume_services.services.files.filesystems.filesystem",
    "lume_services.services.files.filesystems.local",
    "lume_services.services.files.filesystems.mounted",
    "lume_services.services.files.service",
    "lume_services.services.models",
    "lume_services.services.models.db",
    "lume_services.services.models.db.db",
    "lume_services.services.results",
    "lume_services.services.results.db",
    "lume_services.services.results.service",
    "lume_services.services.scheduling.backend",
    "lume_services.services.scheduling.clock",
    "lume_services.services.scheduling.run_filters",
    "lume_services.services.scheduling.run_records",
    "lume_services.services.scheduling.service",
    "lume_services.services.scheduling.task_order",
    "lume_services.services.scheduling.task_results",
    "lume_services.services.scheduling.waiting",
]


def test_the_flow_models_import_leaves_the_services_they_only_name_unimported():
    imported = _in_a_fresh_process(
        "import sys\nimport lume_services.flows.flow\nprint(' '.join(sorted(sys.modules)))"
    ).split()
    assert sorted(set(MADE_LAZY) & set(imported)) == []


def test_the_container_checks_an_overriding_store_against_the_class_it_imports_on_first_check():
    from dependency_injector.errors import Error

    from lume_services.composition import Context
    from lume_services.services.results.sqlite import SQLiteResultsDB

    context = Context()
    context.results_db.override(object())
    with pytest.raises(Error, match=r"not an instance of <class 'lume_services.services.results.db.ResultsDB'>"):
        context.results_db()
    store = SQLiteResultsDB.__new__(SQLiteResultsDB)  # an instance of the class is all the check needs
    context.results_db.override(store)
    assert context.results_db() is store


def test_names_the_flow_models_module_had_before_are_imported_on_first_use():
    import lume_services.composition as composition
    import lume_services.flows.flow as flow
    from lume_services.services.results.service import ResultsDBService
    from lume_services.services.scheduling.run_records import RunRecord
    from lume_services.services.scheduling.service import SchedulingService

    assert (flow.SchedulingService, flow.RunRecord) == (SchedulingService, RunRecord)
    assert (composition.SchedulingService, composition.ResultsDBService) == (SchedulingService, ResultsDBService)
