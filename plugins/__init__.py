"""The plugin contract: registries, the TaskPlugin base class and discovery.

Example:
    >>> from plugins import TASKS, MODELS, load_plugins
    >>> load_plugins()                     # built-ins + installed entry points
    >>> TASKS.get("mlm").name
    'mlm'
"""
from plugins.registry import Registry, RegistryError
from plugins.task import TaskPlugin, ModelSpec
from plugins.overrides import apply_overrides, OverrideError

#: Model builders by preset name (values are `ModelSpec`).
MODELS = Registry("model", entry_point_group="zoo.models")
#: Task plugin classes by name (values are `TaskPlugin` subclasses).
TASKS = Registry("task", entry_point_group="zoo.tasks")

from plugins.discovery import load_plugins, load_plugins_reporting, PluginImportError  # noqa: E402

__all__ = [
    "MODELS", "TASKS", "Registry", "RegistryError", "TaskPlugin", "ModelSpec",
    "apply_overrides", "OverrideError", "load_plugins", "load_plugins_reporting",
    "PluginImportError",
]
