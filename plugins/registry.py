"""A named registry shared by model builders and task plugins.

Example:
    >>> reg = Registry("task", entry_point_group="zoo.tasks")
    >>> @reg.register("echo")
    ... class Echo: pass
    >>> reg.get("echo") is Echo
    True
    >>> reg.get("ecco")
    Traceback (most recent call last):
    RegistryError: unknown task 'ecco'. Did you mean: echo? Registered tasks: echo. ...
"""
import difflib
import inspect


class RegistryError(KeyError):
    """A lookup or registration failed; `str()` is a full, readable message."""

    def __str__(self):
        return self.args[0]


class Registry:
    """Maps names to objects and remembers where each came from."""

    def __init__(self, kind, entry_point_group):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries = {}
        self._sources = {}
        #: The source new registrations are attributed to (set by discovery).
        self.current_source = None

    def register(self, name, obj=None, source=None):
        """Registers `obj` under `name`; usable as a decorator when obj is None."""
        if obj is None:
            return lambda o: self.register(name, o, source) or o
        source = source or self.current_source or _defining_module(obj)
        if name in self._entries:
            raise RegistryError(
                f"{self.kind} '{name}' is registered twice: first by {self._sources[name]}, "
                f"then by {source}. Rename one of them.")
        self._entries[name] = obj
        self._sources[name] = source
        return obj

    def get(self, name):
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise RegistryError(
            f"unknown {self.kind} '{name}'.{hint} Registered {self.kind}s: "
            f"{', '.join(self.names()) or '(none)'}. More can be loaded with "
            f"--plugins=package.module or by installing a package with a "
            f"'{self.entry_point_group}' entry point.")

    def source(self, name):
        self.get(name)
        return self._sources[name]

    def names(self):
        return sorted(self._entries)

    def items(self):
        return [(n, self._entries[n]) for n in self.names()]

    def __contains__(self, name):
        return name in self._entries

    def attribute(self, old_source, new_source):
        """Renames a source (for modules imported before discovery named them)."""
        for name, source in self._sources.items():
            if source == old_source:
                self._sources[name] = new_source

    def unregister(self, name):
        """Removes a name (for tests that register throw-away entries)."""
        self._entries.pop(name, None)
        self._sources.pop(name, None)


def _defining_module(obj):
    module = inspect.getmodule(obj)
    return f"module {module.__name__}" if module else "unknown source"


#: Model builders by preset name (values are `plugins.task.ModelSpec`).
MODELS = Registry("model", entry_point_group="zoo.models")
#: Task plugin classes by name (values are `plugins.task.TaskPlugin` subclasses).
TASKS = Registry("task", entry_point_group="zoo.tasks")
