"""Registry, overrides and plugin discovery."""
import dataclasses
import sys
import textwrap

import pytest

import plugins.discovery as discovery
from plugins import (MODELS, TASKS, OverrideError, PluginImportError, Registry, RegistryError,
                     apply_overrides, load_plugins)
from plugins.overrides import parse_override_string


# -- Registry -----------------------------------------------------------------

def test_register_get_and_sources():
    registry = Registry("widget", entry_point_group="zoo.widgets")
    assert registry.register("gear", object, source="test suite") is object
    assert registry.get("gear") is object and registry.source("gear") == "test suite"
    assert "gear" in registry and "cog" not in registry
    assert registry.names() == ["gear"] and registry.items() == [("gear", object)]
    registry.unregister("gear")
    assert "gear" not in registry and registry.names() == []


def test_register_as_decorator_attributes_the_source():
    registry = Registry("task", entry_point_group="zoo.tasks")

    @registry.register("echo")
    class Echo:
        pass

    assert registry.get("echo") is Echo  # the decorator returns the class itself
    assert registry.source("echo") == f"module {__name__}"
    registry.current_source = "my_pkg.tasks (--plugins)"  # what discovery sets while importing
    registry.register("echo2", Echo)
    assert registry.source("echo2") == "my_pkg.tasks (--plugins)"
    registry.register("echo3", Echo, source="explicit")  # an explicit source wins
    assert registry.source("echo3") == "explicit"


def test_duplicate_name_names_both_sources():
    registry = Registry("task", entry_point_group="zoo.tasks")
    registry.register("tagging", int, source="pkg_a.tagging (--plugins)")
    with pytest.raises(RegistryError) as error:
        registry.register("tagging", float, source="pkg_b.tags (entry point)")
    assert str(error.value) == ("task 'tagging' is registered twice: first by pkg_a.tagging "
                                "(--plugins), then by pkg_b.tags (entry point). Rename one of them.")
    assert registry.get("tagging") is int  # the first registration is kept


def test_unknown_name_suggests_close_matches_and_lists():
    registry = Registry("task", entry_point_group="zoo.tasks")
    for name in ("mlm", "nsp", "classification"):
        registry.register(name, object, source="test")
    with pytest.raises(RegistryError) as error:
        registry.get("clasification")
    assert isinstance(error.value, KeyError)
    assert str(error.value) == (
        "unknown task 'clasification'. Did you mean: classification? Registered tasks: "
        "classification, mlm, nsp. More can be loaded with --plugins=package.module or by "
        "installing a package with a 'zoo.tasks' entry point.")
    with pytest.raises(RegistryError) as error:
        registry.source("regresion")
    assert str(error.value).startswith("unknown task 'regresion'. Registered tasks: ")


def test_unknown_name_without_close_match_or_entries():
    registry = Registry("model", entry_point_group="zoo.models")
    with pytest.raises(RegistryError) as error:
        registry.get("gpt_huge")
    assert str(error.value) == (
        "unknown model 'gpt_huge'. Registered models: (none). More can be loaded with "
        "--plugins=package.module or by installing a package with a 'zoo.models' entry point.")
    registry.register("bert_tiny", object, source="test")
    registry.register("bert_mini", object, source="test")
    with pytest.raises(RegistryError) as error:
        registry.get("bert_tiney")
    assert "Did you mean: bert_tiny, bert_mini?" in str(error.value)
    with pytest.raises(RegistryError) as error:
        registry.get("xyz")
    assert "Did you mean" not in str(error.value)
    assert "Registered models: bert_mini, bert_tiny." in str(error.value)


# -- apply_overrides ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Options:
    layers: int = 2
    rate: float = 0.1
    pair: bool = False
    labels: str = ""


def test_overrides_convert_types():
    assert apply_overrides(Options(), "layers=6, rate=0,pair=true,labels=a|b") == \
        Options(6, 0.0, True, "a|b")
    converted = apply_overrides(Options(), "layers=-3,rate=1e-3,labels=7")
    assert converted == Options(-3, 0.001, False, "7")
    assert type(converted.layers) is int and type(converted.rate) is float
    assert type(converted.labels) is str
    assert apply_overrides(Options(), "") == Options()
    assert apply_overrides(Options(), ",, layers = 4 ,") == Options(layers=4)
    # Only the first '=' splits; later ones belong to the value.
    assert apply_overrides(Options(), "labels=a=b") == Options(labels="a=b")
    # A dict of already-typed values is passed through unconverted.
    assert apply_overrides(Options(), {"layers": 5, "rate": "0.5"}) == Options(5, 0.5)


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("True", True), ("1", True), ("yes", True), ("ON", True),
    ("false", False), ("0", False), ("no", False), ("Off", False),
])
def test_bool_override_spellings(text, expected):
    assert apply_overrides(Options(pair=not expected), f"pair={text}").pair is expected


@pytest.mark.parametrize("text,message", [
    ("depth=3", "unknown field 'depth' for Options; fields are: labels, layers, pair, rate"),
    ("a", "override 'a' is not of the form name=value"),
    ("layers=2,a", "override 'a' is not of the form name=value"),
    ("layers=two", "field 'layers' expects int, got 'two'"),
    ("layers=1.5", "field 'layers' expects int, got '1.5'"),
    ("rate=fast", "field 'rate' expects float, got 'fast'"),
    ("pair=maybe", "field 'pair' expects bool, got 'maybe'"),
])
def test_bad_overrides(text, message):
    with pytest.raises(OverrideError) as error:
        apply_overrides(Options(), text)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


def test_parse_override_string():
    assert parse_override_string("a=1, b = x ,c=") == {"a": "1", "b": "x", "c": ""}
    assert parse_override_string("") == {}


# -- discovery ----------------------------------------------------------------

@pytest.fixture
def isolated_plugins(tmp_path, monkeypatch):
    """A fresh directory on sys.path; modules imported from it and task names
    registered by them are removed afterwards, and discovery's load record is
    restored."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(discovery, "_loaded", list(discovery._loaded))
    before_modules, before_tasks = set(sys.modules), set(TASKS.names())
    yield tmp_path
    for name in set(sys.modules) - before_modules:
        if getattr(sys.modules[name], "__file__", "") and \
                str(sys.modules[name].__file__).startswith(str(tmp_path)):
            del sys.modules[name]
    for name in set(TASKS.names()) - before_tasks:
        TASKS.unregister(name)


def write_package(root, package, modules):
    """Writes root/package/{__init__.py, <name>.py ...} from {name: source}."""
    directory = root / package
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    for name, source in modules.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(source))


def test_builtins_are_registered():
    loaded = load_plugins()
    assert [m for m, s in loaded if s == "built-in"] == list(discovery.BUILTIN_MODULES)
    assert load_plugins() == loaded  # a second call imports nothing new
    assert {"mlm", "nsp", "mlm_nsp", "classification", "regression"} <= set(TASKS.names())
    assert {"bert_nano", "bert_tiny", "bert_mini", "bert_small", "bert_medium", "bert_base",
            "bert_large"} <= set(MODELS.names())
    assert TASKS.get("mlm").name == "mlm"
    assert MODELS.get("bert_mini").config.hidden_dim == 256
    assert MODELS.get("bert_base").config.num_layers == 12
    # Also when tasks.mlm was imported before load_plugins ran.
    assert TASKS.source("mlm") == "tasks.mlm (built-in)"


def test_plugin_package_registers_a_task(isolated_plugins):
    write_package(isolated_plugins, "echo_pkg_ok", {"tasks": """
        from plugins import TASKS, TaskPlugin

        @TASKS.register("echo_test")
        class Echo(TaskPlugin):
            families = ("encoder",)
        """})
    loaded = load_plugins([" echo_pkg_ok.tasks ", ""])
    assert loaded[-1] == ("echo_pkg_ok.tasks", "--plugins")
    assert TASKS.get("echo_test").__module__ == "echo_pkg_ok.tasks"
    assert TASKS.source("echo_test") == "echo_pkg_ok.tasks (--plugins)"
    assert TASKS.current_source is None and MODELS.current_source is None
    assert load_plugins(["echo_pkg_ok.tasks"]) == loaded  # not imported twice


def test_plugin_registering_a_taken_name_fails(isolated_plugins):
    load_plugins()
    write_package(isolated_plugins, "dup_pkg", {"tasks": """
        from plugins import TASKS, TaskPlugin

        @TASKS.register("mlm")
        class OtherMlm(TaskPlugin):
            pass
        """})
    with pytest.raises(PluginImportError) as error:
        load_plugins(["dup_pkg.tasks"])
    message = str(error.value)
    assert message.startswith(
        "plugin module 'dup_pkg.tasks' (from --plugins) failed to import: RegistryError: task "
        "'mlm' is registered twice: first by ")
    assert "then by dup_pkg.tasks (--plugins). Rename one of them." in message
    assert TASKS.get("mlm").__module__ == "tasks.mlm"
    assert TASKS.current_source is None  # reset after a failed import too


def test_plugin_import_error_shows_the_traceback(isolated_plugins):
    write_package(isolated_plugins, "broken_pkg", {"tasks": """
        import os

        def helper():
            raise RuntimeError("boom in plugin")

        helper()
        """})
    with pytest.raises(PluginImportError) as error:
        load_plugins(["broken_pkg.tasks"])
    message = str(error.value)
    assert message.startswith("plugin module 'broken_pkg.tasks' (from --plugins) failed to "
                              "import: RuntimeError: boom in plugin.\nTraceback (most recent "
                              "call last):\n")
    # The original traceback: the failing line, the function and the raise.
    path = isolated_plugins / "broken_pkg" / "tasks.py"
    assert f'File "{path}", line 7, in <module>' in message
    assert f'File "{path}", line 5, in helper' in message
    assert 'raise RuntimeError("boom in plugin")' in message
    assert message.rstrip().endswith("RuntimeError: boom in plugin")
    assert "Check the spelling" not in message
    assert isinstance(error.value, ImportError)
    assert isinstance(error.value.__cause__, RuntimeError)
    assert "broken_pkg.tasks" not in [m for m, _ in discovery._loaded]


def test_plugin_with_a_missing_dependency(isolated_plugins):
    write_package(isolated_plugins, "needy_pkg", {"tasks": "import zz_not_installed_dep\n"})
    with pytest.raises(PluginImportError) as error:
        load_plugins(["needy_pkg.tasks"])
    message = str(error.value)
    assert message.startswith("plugin module 'needy_pkg.tasks' (from --plugins) failed to "
                              "import: ModuleNotFoundError: No module named "
                              "'zz_not_installed_dep'.\nTraceback (most recent call last):")
    assert "Check the spelling" not in message  # the plugin exists; its dependency does not


@pytest.mark.parametrize("module,missing,suggestion", [
    ("no_such_plugin_pkg.tagging", "no_such_plugin_pkg", ""),
    ("tasks.mlmm", "tasks.mlmm", " Did you mean: tasks.mlm, tasks.clm, tasks.mlm_nsp?"),
    ("no_such_plugin_module", "no_such_plugin_module", ""),
])
def test_misspelled_plugin_module(module, missing, suggestion):
    with pytest.raises(PluginImportError) as error:
        load_plugins([module])
    assert str(error.value).startswith(
        f"plugin module '{module}' (from --plugins) failed to import: "
        f"ModuleNotFoundError: No module named '{missing}'. Check the spelling, and "
        f"that the package is installed or on PYTHONPATH.{suggestion}\n"
        "Traceback (most recent call last):")
    assert isinstance(error.value.__cause__, ModuleNotFoundError)


def test_no_spelling_hint_for_a_dependency_that_prefixes_the_plugin_name(isolated_plugins):
    (isolated_plugins / "zz_tagger_plugin.py").write_text("import zz_tagger\n")
    with pytest.raises(PluginImportError) as error:
        load_plugins(["zz_tagger_plugin"])
    assert "No module named 'zz_tagger'" in str(error.value)
    assert "Check the spelling" not in str(error.value)


def test_source_of_a_module_imported_before_load_plugins(isolated_plugins):
    (isolated_plugins / "early_plugin.py").write_text(
        "from plugins import TASKS, TaskPlugin\n"
        "@TASKS.register('early_test')\n"
        "class Early(TaskPlugin):\n    pass\n")
    __import__("early_plugin")
    load_plugins(["early_plugin"])
    assert TASKS.source("early_test") == "early_plugin (--plugins)"
