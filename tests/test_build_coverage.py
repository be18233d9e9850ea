"""BUILD agrees with the code: every Python module and test file is named by a
target, every project module a target imports is in its srcs or reachable
through its deps, and the deps have no cycle (Bazel rejects them).

Bazel cannot run offline here, so this test keeps BUILD from drifting.
"""
import ast
import collections
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "plugins", "tasks", "benchmarks", "examples")
#: Top-level packages of the project's own modules.
PROJECT = ("zoo", "plugins", "tasks")

Target = collections.namedtuple("Target", "rule srcs deps imports")


def build_targets():
    """{target name: Target(rule, srcs, deps, imports)} from the top-level BUILD file;
    deps are target names (':x' -> 'x')."""
    tree = ast.parse((ROOT / "BUILD").read_text())
    targets = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id.startswith("py_"):
            args = {k.arg: k.value for k in node.keywords}

            def strings(key):
                return [e.value for e in args[key].elts] if key in args else []
            for label in strings("deps"):
                assert label.startswith(":"), f"{label}: only targets of this BUILD file"
            targets[args["name"].value] = Target(
                node.func.id, strings("srcs"), [d[1:] for d in strings("deps")],
                strings("imports"))
    return targets


def module_names(src, imports=()):
    """The names a src file is imported by: from the root, and from each `imports`."""
    path = pathlib.PurePosixPath(src).with_suffix("")
    names = []
    for base in ("", *imports):
        if base and not str(path).startswith(base + "/"):
            continue
        parts = path.relative_to(base).parts if base else path.parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def provided_modules(targets):
    """{module name: src file} of every library and binary src."""
    modules = {}
    for target in targets.values():
        if target.rule in ("py_library", "py_binary"):
            for src in target.srcs:
                for name in module_names(src, target.imports):
                    modules[name] = src
    return modules


def imported_names(src):
    """Every module name `src` imports, at any level (functions too): `import a.b`
    gives a.b, `from a.b import c` gives a.b.c (a module c, or a name in a.b)."""
    tree = ast.parse((ROOT / src).read_text(), filename=src)
    package = list(pathlib.PurePosixPath(src).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of src
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def resolve(name, modules):
    """The src file of the longest prefix of `name` that is a project module, or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return modules[".".join(parts[:end])]
    return None


def closure(targets, name):
    """`name` and every target reachable through deps."""
    seen, stack = set(), [name]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(targets[current].deps)
    return seen


def test_every_module_is_in_a_py_library_or_binary():
    covered = {src for target in build_targets().values()
               if target.rule in ("py_library", "py_binary") for src in target.srcs}
    modules = {str(p.relative_to(ROOT)) for package in PACKAGES
               for p in (ROOT / package).rglob("*.py") if "build" not in p.parts}
    assert modules - covered == set(), "add these to BUILD"
    assert covered - modules == set(), "BUILD names files that do not exist"


def test_every_test_file_has_a_py_test():
    tests = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")}
    targets = build_targets()
    covered = {target.srcs[0] for target in targets.values() if target.rule == "py_test"}
    assert tests == covered
    for name, target in targets.items():
        if target.rule == "py_test":
            assert name == pathlib.Path(target.srcs[0]).stem


def test_deps_name_targets():
    targets = build_targets()
    unknown = {f"{name} -> {dep}" for name, target in targets.items() for dep in target.deps
               if dep not in targets}
    assert unknown == set()


def test_deps_have_no_cycle():
    targets = build_targets()
    state, path, cycles = {}, [], []

    def visit(name):  # depth first; a dep still on the path closes a cycle
        state[name] = "open"
        path.append(name)
        for dep in targets[name].deps:
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state and dep in targets:
                visit(dep)
        path.pop()
        state[name] = "done"
    for name in sorted(targets):
        if name not in state:
            visit(name)
    assert cycles == []


def test_every_import_is_in_srcs_or_deps():
    """Each project module (zoo.*, plugins.*, tasks.*, and the modules of targets
    with `imports`) that a target's srcs import, at any level, is in its srcs or in
    a target its deps reach."""
    targets = build_targets()
    modules = provided_modules(targets)
    owners = collections.defaultdict(set)
    for name, target in targets.items():
        for src in target.srcs:
            owners[src].add(name)
    missing = set()
    for name, target in targets.items():
        reachable = {src for other in closure(targets, name) for src in targets[other].srcs}
        for src in target.srcs:
            for imported in imported_names(src):
                file = resolve(imported, modules)
                if file is None:
                    assert imported.split(".")[0] not in PROJECT, \
                        f"{src} imports {imported}, which no target provides"
                elif file not in reachable:
                    missing.add(f"{name} ({src} imports {imported}): add a dep on "
                                f"{' or '.join(sorted(owners[file]))}")
    assert missing == set()


def test_targets_that_load_plugins_reach_the_builtins():
    """plugins.discovery imports BUILTIN_MODULES by name: `builtins` must provide
    them, and every target whose code loads plugins must reach `builtins`."""
    targets = build_targets()
    modules = provided_modules(targets)
    discovery = ast.parse((ROOT / "plugins/discovery.py").read_text())
    builtin_modules = next(
        ast.literal_eval(node.value) for node in ast.walk(discovery)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") ==
        "BUILTIN_MODULES")
    provided = {src for name in closure(targets, "builtins") for src in targets[name].srcs}
    assert {m for m in builtin_modules if modules.get(m) not in provided} == set()

    def loads_plugins(src):
        return any(isinstance(node, ast.Call) and
                   getattr(node.func, "id", getattr(node.func, "attr", "")) in
                   ("load_plugins", "load_plugins_reporting")
                   for node in ast.walk(ast.parse((ROOT / src).read_text())))
    unreached = {name for name, target in targets.items()
                 if name != "plugins" and any(loads_plugins(src) for src in target.srcs)
                 and "builtins" not in closure(targets, name)}
    assert unreached == set()


def project_sources():
    """Every Python file of the project's own packages (zoo, plugins, tasks)."""
    return sorted(str(p.relative_to(ROOT)) for package in PROJECT
                  for p in (ROOT / package).rglob("*.py") if "build" not in p.parts
                  and "examples" not in p.parts)


def module_import_graph():
    """{src: {src it imports}} over the project's modules, counting imports at
    every level (inside functions too): a function-level import still makes a
    cycle, only a later one."""
    modules = {name: src for src in project_sources() for name in module_names(src)}
    graph = {}
    for src in project_sources():
        graph[src] = {file for imported in imported_names(src)
                      for file in [resolve(imported, modules)] if file and file != src}
    return graph


def test_modules_import_no_cycle_counting_function_level_imports():
    graph = module_import_graph()
    state, path, cycles = {}, [], []

    def visit(src):
        state[src] = "open"
        path.append(src)
        for dep in sorted(graph[src]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep)
        path.pop()
        state[src] = "done"
    for src in sorted(graph):
        if src not in state:
            visit(src)
    assert cycles == [], "import cycles (cut each by moving what both sides need lower)"


def test_a_cycle_hidden_in_a_function_is_found(tmp_path, monkeypatch):
    """The cycle finder itself: a function-level import that closes a loop fails."""
    package = tmp_path / "zoo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from zoo import b\n")
    (package / "b.py").write_text("def f():\n    from zoo.a import g\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PROJECT", ("zoo",))
    graph = module_import_graph()
    assert graph["zoo/a.py"] == {"zoo/b.py"} and graph["zoo/b.py"] == {"zoo/a.py"}


def private_cross_module_uses(src):
    """`from project.module import _name` and `module._name` where `module` is a
    project module imported by `src`."""
    tree = ast.parse((ROOT / src).read_text(), filename=src)
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{src}:{node.lineno}: from {node.module} import {alias.name}")
                aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT:
                    aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                not node.attr.startswith("__") and isinstance(node.value, ast.Name) and \
                node.value.id in aliases:
            found.append(f"{src}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    uses = [use for src in project_sources() for use in private_cross_module_uses(src)]
    assert uses == [], "give these a public name in a module both sides may import"
