"""Registry, overrides and plugin discovery."""
import dataclasses
import sys

import pytest

from plugins import (MODELS, TASKS, OverrideError, PluginImportError, Registry, RegistryError,
                     apply_overrides, load_plugins)


def test_register_get_and_sources():
    registry = Registry("widget", entry_point_group="zoo.widgets")
    registry.register("gear", object, source="test suite")
    assert registry.get("gear") is object and registry.source("gear") == "test suite"
    assert "gear" in registry and registry.names() == ["gear"]


def test_duplicate_name_names_both_sources():
    registry = Registry("task", entry_point_group="zoo.tasks")
    registry.register("tagging", int, source="pkg_a.tagging (--plugins)")
    with pytest.raises(RegistryError) as error:
        registry.register("tagging", float, source="pkg_b.tags (entry point)")
    assert str(error.value) == ("task 'tagging' is registered twice: first by pkg_a.tagging "
                                "(--plugins), then by pkg_b.tags (entry point). Rename one of them.")


def test_unknown_name_suggests_and_lists():
    registry = Registry("task", entry_point_group="zoo.tasks")
    for name in ("mlm", "nsp", "classification"):
        registry.register(name, object, source="test")
    with pytest.raises(RegistryError) as error:
        registry.get("clasification")
    assert str(error.value) == (
        "unknown task 'clasification'. Did you mean: classification? Registered tasks: "
        "classification, mlm, nsp. More can be loaded with --plugins=package.module or by "
        "installing a package with a 'zoo.tasks' entry point.")


@dataclasses.dataclass(frozen=True)
class Options:
    layers: int = 2
    rate: float = 0.1
    pair: bool = False
    labels: str = ""


def test_overrides_convert_types():
    assert apply_overrides(Options(), "layers=6, rate=0,pair=true,labels=a|b") == \
        Options(6, 0.0, True, "a|b")
    assert apply_overrides(Options(), "") == Options()


@pytest.mark.parametrize("text,message", [
    ("depth=3", "unknown field 'depth' for Options; fields are: labels, layers, pair, rate"),
    ("layers", "override 'layers' is not of the form name=value"),
    ("layers=two", "field 'layers' expects int, got 'two'"),
    ("pair=maybe", "field 'pair' expects bool, got 'maybe'"),
])
def test_bad_overrides(text, message):
    with pytest.raises(OverrideError) as error:
        apply_overrides(Options(), text)
    assert str(error.value) == message


def test_builtins_are_registered_with_their_source():
    load_plugins()
    assert {"mlm", "classification", "regression"} <= set(TASKS.names())
    assert {"bert_nano", "bert_tiny", "bert_mini", "bert_small", "bert_medium", "bert_base",
            "bert_large"} <= set(MODELS.names())
    assert MODELS.get("bert_mini").config.hidden_dim == 256
    assert MODELS.get("bert_base").config.num_layers == 12
    assert TASKS.source("mlm") == "tasks.mlm (built-in)"


def test_plugin_module_registers_a_task(tmp_path, monkeypatch):
    (tmp_path / "my_echo_plugin.py").write_text(
        "from plugins import TASKS, TaskPlugin\n"
        "@TASKS.register('echo_test')\n"
        "class Echo(TaskPlugin):\n    families = ('encoder',)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        loaded = load_plugins(["my_echo_plugin"])
        assert ("my_echo_plugin", "--plugins") in loaded
        assert TASKS.source("echo_test") == "my_echo_plugin (--plugins)"
    finally:
        TASKS.unregister("echo_test")


def test_plugin_import_error_shows_the_traceback(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("import os\nraise RuntimeError('boom in plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginImportError) as error:
        load_plugins(["broken_plugin"])
    message = str(error.value)
    assert message.startswith("plugin module 'broken_plugin' (from --plugins) failed to import: "
                              "RuntimeError: boom in plugin.")
    assert "Traceback (most recent call last)" in message and "broken_plugin.py\", line 2" in message
    sys.modules.pop("broken_plugin", None)


def test_misspelled_plugin_module():
    with pytest.raises(PluginImportError) as error:
        load_plugins(["no_such_plugin_pkg.tagging"])
    assert str(error.value).startswith(
        "plugin module 'no_such_plugin_pkg.tagging' (from --plugins) failed to import: "
        "ModuleNotFoundError: No module named 'no_such_plugin_pkg'. Check the spelling, and "
        "that the package is installed or on PYTHONPATH.")
