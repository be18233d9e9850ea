"""The example plugin package: found through --plugins and, once pip-installed,
through its entry point; docs/plugins.md shows its code. (It passes the conformance kit:
test_conformance_pooled.py's multilabel case runs the kit on this package's module.)"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "plugins", "examples", "multilabel")


def zoo_list(*args, env=None):
    result = subprocess.run([sys.executable, "-m", "zoo.cli.list", *args], capture_output=True,
                            text=True, timeout=300, env={**os.environ, **(env or {})})
    return result.returncode, result.stdout, result.stderr


def test_found_through_plugins_flag():
    code, out, err = zoo_list("--plugins=zoo_multilabel", env={"PYTHONPATH": PACKAGE})
    assert code == 0, err
    assert re.search(r"^  multilabel .*\[zoo_multilabel \((--plugins|entry point)", out, re.M)


def test_misspelled_plugin_fails_loudly_with_a_suggestion():
    code, _, err = zoo_list("--plugins=zoo_multilabell", env={"PYTHONPATH": PACKAGE})
    assert code == 2
    assert ("error: plugin module 'zoo_multilabell' (from --plugins) failed to import: "
            "ModuleNotFoundError") in err and "Did you mean: zoo_multilabel?" in err


@pytest.fixture(scope="module")
def installed():
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                             PACKAGE], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    import importlib
    importlib.invalidate_caches()


def test_installed_package_is_listed_from_its_entry_point(installed):
    code, out, err = zoo_list()
    assert code == 0, err
    assert "plugin: zoo_multilabel (entry point 'multilabel' in zoo.tasks of zoo-multilabel)" in out
    assert re.search(r"^  multilabel +families: encoder, decoder, encoder_decoder; fields: "
                     r"text, label;", out, re.M)


def test_guide_walkthrough_is_the_example_plugin():
    guide = open(os.path.join(ROOT, "docs", "plugins.md")).read()
    code = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    source = open(os.path.join(PACKAGE, "zoo_multilabel", "__init__.py")).read()
    assert code == source, "docs/plugins.md's plugin must be plugins/examples/multilabel's module"
    assert len(code.splitlines()) < 100
