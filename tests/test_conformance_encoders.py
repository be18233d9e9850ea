"""The conformance kit on the pretraining tasks of encoders: mlm, nsp, mlm_nsp.
Cases: tests/conformance_cases.py."""
import pytest

from conformance_cases import GROUPS, check_case


@pytest.mark.parametrize("task", GROUPS["encoders"])
def test_task_conforms(task, tmp_path, monkeypatch):
    check_case(task, tmp_path, monkeypatch)
