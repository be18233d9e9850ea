"""Finds model builders and task plugins: built-ins, entry points, --plugins.

Order: built-in modules, installed entry points (groups `zoo.models` and
`zoo.tasks`), then modules the user names. Import errors are raised with the
original traceback chained, never skipped.

Example:
    >>> from plugins import load_plugins
    >>> report = load_plugins(["my_pkg.my_task"])
    >>> report[-1]
    ('my_pkg.my_task', '--plugins')
"""
import importlib
import importlib.metadata
import traceback

from plugins.registry import MODELS, TASKS

#: Imported by name, so that `plugins` (which they import) does not import them;
#: BUILD's `builtins` target depends on their targets.
BUILTIN_MODULES = ("zoo.models.bert", "zoo.models.gpt", "zoo.models.t5",
                   "zoo.models.transformer", "tasks.mlm",
                   "tasks.nsp", "tasks.mlm_nsp", "tasks.classification", "tasks.regression",
                   "tasks.clm", "tasks.translation", "tasks.span_corruption",
                   "tasks.distill", "tasks.electra", "tasks.embedding")

_loaded = []  # (module name, source) in load order


class PluginImportError(ImportError):
    """A plugin module failed to import; the message holds its traceback."""


def _import(module_name, source, registries):
    if any(name == module_name for name, _ in _loaded):
        return
    for registry in registries:
        registry.current_source = f"{module_name} ({source})"
    try:
        importlib.import_module(module_name)
    except Exception as error:
        hint = ""
        if isinstance(error, ModuleNotFoundError) and error.name and (
                module_name == error.name or module_name.startswith(error.name + ".")):
            hint = (" Check the spelling, and that the package is installed or on "
                    "PYTHONPATH.")
            close = _similar_modules(module_name)
            if close:
                hint += f" Did you mean: {', '.join(close)}?"
        raise PluginImportError(
            f"plugin module '{module_name}' (from {source}) failed to import: "
            f"{type(error).__name__}: {error}.{hint}\n"
            f"{''.join(traceback.format_exception(error))}") from error
    finally:
        for registry in registries:
            registry.current_source = None
    for registry in registries:  # entries of a module imported before discovery ran
        registry.attribute(f"module {module_name}", f"{module_name} ({source})")
    _loaded.append((module_name, source))


def _similar_modules(module_name):
    """Importable names close to a misspelled plugin module name."""
    import difflib
    import pkgutil
    head, _, tail = module_name.rpartition(".")
    if head:
        try:
            package = importlib.import_module(head)
        except ImportError:
            return _similar_modules(head)
        names = [f"{head}.{m.name}" for m in pkgutil.iter_modules(getattr(package, "__path__", []))]
    else:
        names = [m.name for m in pkgutil.iter_modules()]
    return difflib.get_close_matches(module_name, names, n=3, cutoff=0.75)


def load_plugins(extra_modules=()):
    """Imports built-ins, entry points and `extra_modules`; returns what loaded.

    Returns a list of (module, source) pairs in load order; calling it again
    only imports what is new.
    """
    registries = (MODELS, TASKS)
    for module_name in BUILTIN_MODULES:
        _import(module_name, "built-in", registries)
    for group in (MODELS.entry_point_group, TASKS.entry_point_group):
        for entry in importlib.metadata.entry_points(group=group):
            _import(entry.value.split(":")[0], f"entry point '{entry.name}' in {group} "
                    f"of {entry.dist.name if entry.dist else '?'}", registries)
    for module_name in extra_modules:
        module_name = module_name.strip()
        if module_name:
            _import(module_name, "--plugins", registries)
    return list(_loaded)


def load_plugins_reporting(extra_modules=()):
    """`load_plugins`, printing each module that is not built in with its source
    (`plugin: my_pkg.my_task (--plugins)`)."""
    loaded = load_plugins(extra_modules)
    for module, source in loaded:
        if source != "built-in":
            print(f"plugin: {module} ({source})")
    return loaded
