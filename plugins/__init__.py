"""The plugin contract: registries, the TaskPlugin base class and discovery.

Example:
    >>> from plugins import TASKS, MODELS, load_plugins
    >>> load_plugins()                     # built-ins + installed entry points
    >>> TASKS.get("mlm").name
    'mlm'
"""
from plugins.registry import MODELS, TASKS, Registry, RegistryError
from plugins.task import TaskPlugin, ModelSpec
from plugins.overrides import apply_overrides, OverrideError
from plugins.discovery import load_plugins, load_plugins_reporting, PluginImportError

__all__ = [
    "MODELS", "TASKS", "Registry", "RegistryError", "TaskPlugin", "ModelSpec",
    "apply_overrides", "OverrideError", "load_plugins", "load_plugins_reporting",
    "PluginImportError",
]
