"""A flow-of-flows declaration is bounded: an alias bomb, deep nesting or a huge file is refused
at once with a named error, before anything is built from it or put into a message."""

import time

import pytest

from lume_services.errors import DeclarationTooLargeError, InvalidFlowOfFlowsError
from lume_services.flows import _spec
from lume_services.flows.flow_of_flows import FlowOfFlows


def _alias_bomb(levels: int) -> str:
    """A few hundred bytes standing for 9**levels values."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("name: bomb\ncomposing_flows:\n  - name: *a%d" % levels)
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(20)
def test_an_alias_bomb_as_a_child_name_is_refused_quickly_with_a_short_message():
    text = _alias_bomb(8)
    assert len(text) < 1000

    started = time.perf_counter()
    with pytest.raises(DeclarationTooLargeError) as raised:
        FlowOfFlows.from_yaml(text)

    assert time.perf_counter() - started < 2
    assert len(str(raised.value)) < 500
    assert "alias" in str(raised.value)


def test_deep_nesting_is_refused_by_name_not_with_a_recursion_error():
    text = "name: deep\ncomposing_flows: " + "[" * 20_000 + "]" * 20_000 + "\n"

    with pytest.raises(DeclarationTooLargeError, match="levels of nesting"):
        FlowOfFlows.from_yaml(text)


def test_too_large_a_declaration_is_an_invalid_flow_of_flows():
    assert issubclass(DeclarationTooLargeError, InvalidFlowOfFlowsError)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(_spec, "MAX_DECLARATION_CHARACTERS", 100)
    path = tmp_path / "big.yaml"
    path.write_text("name: big\n" + "# padding\n" * 100)

    with pytest.raises(DeclarationTooLargeError, match="characters"):
        FlowOfFlows.from_yaml(str(path))


def test_aliases_within_the_bounds_still_work():
    data = _spec.parse_yaml("base: &base {a: 1}\nuse: *base\nlist: [*base, *base]\n")

    assert data["use"] == {"a": 1} and data["list"] == [{"a": 1}, {"a": 1}]
