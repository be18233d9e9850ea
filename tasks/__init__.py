"""Built-in task plugins, one module each; each registers itself in `plugins.TASKS`."""
