"""The conformance kit on the generative tasks: clm, span_corruption, translation.
Cases: tests/conformance_cases.py."""
import pytest

from conformance_cases import GROUPS, check_case


@pytest.mark.parametrize("task", GROUPS["generative"])
def test_task_conforms(task, tmp_path, monkeypatch):
    check_case(task, tmp_path, monkeypatch)
