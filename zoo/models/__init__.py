"""Model families. Each module registers its named sizes in `plugins.MODELS`."""
