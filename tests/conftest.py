"""Shared fixtures, and one intra-op thread per test process.

The suite runs in parallel processes (`pytest -n`), which already keep the
cores busy; TensorFlow's default of one intra-op thread per core in each of
them only adds contention. Set before TensorFlow starts; the zoo-* processes
that tests start inherit it.
"""
import os

import pytest

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

from plugins import MODELS
from plugins.discovery import load_plugins


@pytest.fixture
def case_env(tmp_path, monkeypatch):
    """(tmp_path, monkeypatch) for a bad-input case; models a case registers are removed."""
    load_plugins()
    registered = set(MODELS.names())
    yield tmp_path, monkeypatch
    for name in set(MODELS.names()) - registered:  # e.g. a toy model of a case
        MODELS.unregister(name)
