"""Shared fixtures, and the costliest test files first.

`--dist loadfile --no-loadscope-reorder` hands whole files to the workers in
collection order (xdist's default order is by number of tests, which puts the
many cheap reader and catalogue cases first), so the files that cost the most
CPU (a minute or more each) are collected first: started last, one of them
would end the run with the other workers idle.

(One intra-op thread per worker, `TF_NUM_INTRAOP_THREADS=1`, saved about a
tenth of the CPU but hung a one-device training subprocess after its first
step in one of three runs, so TensorFlow keeps its default threads.)
"""
import pytest

from plugins import MODELS
from plugins.discovery import load_plugins

COSTLIEST_FIRST = (
    "test_generative_training.py", "test_reliability.py", "test_distribution.py",
    "test_multi_worker.py", "test_precision_and_accumulation.py", "test_conformance_pooled.py",
    "test_hf_checkpoints.py", "test_finetune.py", "test_lora.py",
    "test_conformance_generative.py", "test_conformance_encoders.py", "test_training.py",
    "test_quantize.py", "test_preemption.py", "test_faults.py", "test_distill.py")


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file


@pytest.fixture
def case_env(tmp_path, monkeypatch):
    """(tmp_path, monkeypatch) for a bad-input case; models a case registers are removed."""
    load_plugins()
    registered = set(MODELS.names())
    yield tmp_path, monkeypatch
    for name in set(MODELS.names()) - registered:  # e.g. a toy model of a case
        MODELS.unregister(name)
