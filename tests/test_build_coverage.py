"""Every Python module and test file is named by a target in BUILD.

Bazel cannot run offline here, so this test keeps BUILD from drifting.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "plugins", "tasks", "benchmarks", "examples")


def build_targets():
    """{target name: (rule, [srcs])} from the top-level BUILD file."""
    tree = ast.parse((ROOT / "BUILD").read_text())
    targets = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = {k.arg: k.value for k in node.keywords}
            if "name" in args and "srcs" in args:
                srcs = [e.value for e in args["srcs"].elts]
                targets[args["name"].value] = (node.func.id, srcs)
    return targets


def test_every_module_is_in_a_py_library_or_binary():
    covered = {src for rule, srcs in build_targets().values()
               if rule in ("py_library", "py_binary") for src in srcs}
    modules = {str(p.relative_to(ROOT)) for package in PACKAGES
               for p in (ROOT / package).rglob("*.py") if "build" not in p.parts}
    assert modules - covered == set(), "add these to BUILD"
    assert covered - modules == set(), "BUILD names files that do not exist"


def test_every_test_file_has_a_py_test():
    tests = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")}
    targets = build_targets()
    covered = {srcs[0] for rule, srcs in targets.values() if rule == "py_test"}
    assert tests == covered
    for name, (rule, srcs) in targets.items():
        if rule == "py_test":
            assert name == pathlib.Path(srcs[0]).stem
