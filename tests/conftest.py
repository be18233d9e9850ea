"""Shared fixtures."""
import pytest

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
