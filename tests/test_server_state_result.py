"""lume-services' PrefectResult: Prefect's, under Prefect's name, refusing values too large for a state."""

import pickle

import prefect
import pytest
from prefect.engine.results import PrefectResult as PrefectsPrefectResult
from prefect.engine.state import Success
from prefect.serialization.state import StateSchema

from lume_services.errors import StateTooLargeError, TaskResultTooLargeError
from lume_services.services.scheduling.backends import DockerBackend, KubernetesBackend
from lume_services.services.scheduling.backends.server.runs import STATE_SIZE_LIMIT
from lume_services.services.scheduling.backends.server.state_result import (
    STATE_MARGIN,
    PrefectResult,
    size_in_state,
)

# the largest text whose result, as JSON in its state ('"\"x...\""'), is within the limit with its margin
LARGEST = STATE_SIZE_LIMIT - STATE_MARGIN - 6


def test_a_value_within_the_limit_is_written_as_prefects_result_writes_it():
    written = PrefectResult().write({"a": [1, 2]})

    assert written.location == PrefectsPrefectResult().write({"a": [1, 2]}).location
    assert PrefectResult().read(written.location).value == {"a": [1, 2]}
    assert PrefectResult().write("x" * LARGEST).value == "x" * LARGEST


def test_a_value_over_the_limit_is_refused_naming_task_flow_size_limit_and_fix():
    with prefect.context(flow_name="big-flow", task_full_name="make_text[3]"):
        with pytest.raises(TaskResultTooLargeError) as info:
            PrefectResult().write("x" * (LARGEST + 1))

    exc = info.value
    assert isinstance(exc, StateTooLargeError)
    assert (exc.flow_name, exc.task_name, exc.size, exc.limit) == (
        "big-flow", "make_text[3]", LARGEST + 1 + 6, STATE_SIZE_LIMIT)
    message = str(exc)
    assert "the result of task 'make_text[3]' of flow 'big-flow' is 999,001 bytes as JSON" in message
    assert "over 1,000,000 bytes (1 MB)" in message
    for fix in ("results_dir", "LocalResult", "S3Result", "SaveFile", "SaveDBResult"):
        assert fix in message


def test_the_size_counts_the_quotes_and_escapes_the_state_adds():
    location = PrefectsPrefectResult().write('say "hi"').location  # "say \"hi\""

    assert size_in_state(location) == len('"\\"say \\\\\\"hi\\\\\\"\\""')


def test_it_serializes_as_prefects_own_prefect_result_so_any_reader_reads_it():
    state = Success(result=PrefectResult().write([1, 2, 3])).serialize()

    assert state["_result"]["type"] == "PrefectResult"
    loaded = StateSchema().load(state)
    assert type(loaded._result) is PrefectsPrefectResult
    assert loaded._result.read(loaded._result.location).value == [1, 2, 3]


def test_it_and_its_error_survive_pickling_as_flow_storage_and_dask_do():
    assert type(pickle.loads(pickle.dumps(PrefectResult()))) is PrefectResult
    exc = pickle.loads(pickle.dumps(TaskResultTooLargeError("f", "t", 2_000_000, STATE_SIZE_LIMIT)))
    assert (exc.flow_name, exc.task_name, exc.size) == ("f", "t", 2_000_000)


def test_the_backends_that_keep_results_in_states_use_it(tmp_path):
    assert type(KubernetesBackend().build_result(None)) is PrefectResult
    assert type(DockerBackend().build_result(None)) is PrefectResult
    assert type(DockerBackend(results_dir=tmp_path).build_result(None)).__name__ == "LocalResult"
