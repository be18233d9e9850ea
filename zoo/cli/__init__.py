"""absl command-line apps: zoo-train, zoo-export, zoo-predict, zoo-list."""
