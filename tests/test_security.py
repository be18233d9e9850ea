"""Security: no unsafe deserialisation anywhere, plugins only from named sources."""
import os
import re
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_pickle_and_no_unsafe_config_parsing():
    """Artifacts are checkpoints, SavedModels (protobuf) and JSON/text; nothing
    unpickles or parses YAML unsafely."""
    unsafe = re.compile(r"\b(import pickle|from pickle|cPickle|import dill|import joblib|"
                        r"import shelve|marshal\.loads?|yaml\.load\(|yaml\.unsafe_load|"
                        r"allow_pickle\s*=\s*True)")
    found = []
    for package in ("zoo", "plugins", "tasks", "benchmarks"):
        for directory, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    text = open(path, encoding="utf-8").read()
                    found += [f"{path}: {m.group(0)}" for m in unsafe.finditer(text)]
    assert found == []


def test_plugins_load_only_from_builtins_entry_points_and_the_flag(tmp_path, monkeypatch,
                                                                   capsys):
    from zoo.cli.common import load_plugins_reporting
    (tmp_path / "zoo_named_plugin.py").write_text("")
    (tmp_path / "zoo_unnamed_plugin.py").write_text("")  # on sys.path, but nobody names it
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_plugins_reporting(["zoo_named_plugin"])
    shown = capsys.readouterr().out.splitlines()
    assert ("zoo_named_plugin", "--plugins") in loaded
    assert "zoo_unnamed_plugin" not in sys.modules
    for module, source in loaded:
        assert source in ("built-in", "--plugins") or source.startswith("entry point '")
        # Every plugin that is not built in is listed at start-up; built-ins are not.
        assert (f"plugin: {module} ({source})" in shown) == (source != "built-in")
