"""Flags shared by the zoo-* apps, and the error reporting they share.

Example:
    >>> from zoo.cli import common
    >>> common.run_app(main)   # absl app with clean one-line errors
"""
import sys

from absl import app, flags, logging

flags.DEFINE_string("model_dir", "runs/default", "Directory for checkpoints, config and logs.")
flags.DEFINE_string("export_dir", "", "Export base directory (zoo-predict: or one version "
                    "directory); empty: <model_dir>/export.")
flags.DEFINE_string("train_data", "", "Comma list / globs of training files (zoo-train: "
                    "empty trains on the built-in corpus).")
flags.DEFINE_string("eval_data", "", "Comma list / globs of evaluation files (zoo-export: "
                    "metrics before and after --quantize).")
flags.DEFINE_enum("text_mode", "line", ["line", "paragraph"],
                  "Plain text: one document per line, or blank-line separated paragraphs.")
flags.DEFINE_integer("vocab_size", 8000, "Size of a vocab trained from the data.")
flags.DEFINE_boolean("lowercase", True, "Lowercase and strip accents before WordPiece.")
flags.DEFINE_list("plugins", [], "Extra modules that register models or tasks (pkg.module).")

FLAGS = flags.FLAGS


class UsageError(ValueError):
    """Flags or inputs that cannot work together; reported before any work."""


def load_plugins_reporting(modules=None):
    """Loads built-in, installed and --plugins modules and prints where each came from."""
    from plugins import load_plugins
    loaded = load_plugins(FLAGS.plugins if modules is None else modules)
    for module, source in loaded:
        if source != "built-in":
            print(f"plugin: {module} ({source})")
    return loaded


def run_app(main):
    """Runs an absl app; known errors become one 'error: ...' line and exit code 2."""
    from plugins import OverrideError, PluginImportError, RegistryError
    from zoo.data.readers import DataError
    from zoo.train.freezing import FreezeError
    from zoo.train.initialization import RestoreError
    from zoo.train.loop import NonFiniteLossError
    expected = (NonFiniteLossError, UsageError, RegistryError, OverrideError, DataError, FileNotFoundError,
                FileExistsError, PermissionError, PluginImportError, FreezeError, RestoreError)

    def guarded(argv):
        logging.set_verbosity(logging.WARNING)
        try:
            return main(argv)
        except expected as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    app.run(guarded)
