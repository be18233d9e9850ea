"""Flags shared by the zoo-* apps, and the error reporting they share.

Example:
    >>> from zoo.cli import common
    >>> common.run_app(main)   # absl app with clean one-line errors
"""
import sys

from absl import app, flags, logging

from zoo.train.options import UsageError  # noqa: F401  (the zoo-* apps raise it)

flags.DEFINE_string("model_dir", "runs/default", "Directory for checkpoints, config and logs.")
flags.DEFINE_string("export_dir", "", "Export base directory (zoo-predict: or one version "
                    "directory); empty: <model_dir>/export.")
flags.DEFINE_string("train_data", "", "Comma list / globs of training files (zoo-train: "
                    "empty trains on the built-in corpus).")
flags.DEFINE_string("eval_data", "", "Comma list / globs of evaluation files (zoo-export: "
                    "metrics before and after --quantize).")
flags.DEFINE_enum("text_mode", "line", ["line", "paragraph"],
                  "Plain text: one document per line, or blank-line separated paragraphs.")
flags.DEFINE_string("columns", "", "Columns of .tsv/.csv/.jsonl (or features of .tfrecord) "
                    "that hold the task's fields, as field=column,..., e.g. GLUE MRPC's "
                    "'text=#1 String,text_b=#2 String,label=Quality'; empty: each field "
                    "from the column of its own name (or an alias such as sentence).")
flags.DEFINE_integer("vocab_size", 8000, "Size of a vocab trained from the data.")
flags.DEFINE_string("vocab_sample", "100M", "Bytes of text a vocab is trained from: a uniform "
                    "sample of the examples (lines) of the training files, drawn with --seed, "
                    "with a progress line; K, M or G suffix (decimal); 0: all of them.")
flags.DEFINE_integer("seed", 0, "Seed for initialisation, shuffling and masking (zoo-train) "
                     "and the --vocab_sample.")
flags.DEFINE_boolean("lowercase", True, "Lowercase and strip accents before WordPiece.")
flags.DEFINE_list("plugins", [], "Extra modules that register models or tasks (pkg.module).")
flags.DEFINE_string("decoding", "", "Decoding options of generative tasks, e.g. "
                    "sampler=top_p,top_p=0.9,temperature=0.8 or sampler=beam,num_beams=4,"
                    "length_penalty=0.6 (zoo-export: baked into the export; zoo-predict: with "
                    "--model_dir).")

FLAGS = flags.FLAGS


def load_plugins_reporting(modules=None):
    """Loads built-in, installed and --plugins (or `modules`) modules and prints where
    each came from."""
    from plugins import load_plugins_reporting as load
    return load(FLAGS.plugins if modules is None else modules)


def declare_shared_flags(module_name, *names):
    """Declares flags of this module (`model_dir`, ...) key flags of the zoo-* module
    `module_name` that reads them, so its `--help` lists them with its own."""
    if module_name == "__main__":  # absl names the main module by sys.argv[0]
        module_name = sys.argv[0]
    for name in names:
        FLAGS.register_key_flag_for_module(module_name, FLAGS[name])


def show_flags_in_help(module):
    """Makes `--help` list the flags of `module` (those it defines and those it names in
    `declare_shared_flags`) and print its docstring. absl's `--help` shows
    the key flags and the docstring of the main module, which for an installed zoo-*
    command is the generated console-script wrapper (no flags, no docstring)."""
    main_module = sys.modules["__main__"]
    for flag in FLAGS.get_key_flags_for_module(module):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    if main_module is not module and not getattr(main_module, "__doc__", None):
        main_module.__doc__ = module.__doc__


#: Errors that end a zoo-* app with one line (exit code 2), by module: looked up
#: when one is raised, so that a tool that never imports the training modules
#: (zoo-vocab) does not import TensorFlow for their classes.
EXPECTED_ERRORS = (("plugins", ("OverrideError", "PluginImportError", "RegistryError")),
                   ("zoo.data.formats.columns", ("DataError",)),
                   ("zoo.models.published", ("FetchError",)),
                   ("zoo.disk_full", ("DiskFullError",)),
                   ("zoo.train.checkpoint_repair", ("CheckpointError",)),
                   ("zoo.train.freezing", ("FreezeError",)),
                   ("zoo.train.initialization", ("RestoreError",)),
                   ("zoo.train.loop", ("NonFiniteLossError",)))


def expected_errors():
    """The classes of EXPECTED_ERRORS of the modules imported so far (one not
    imported cannot have raised), with UsageError and the file errors."""
    errors = [UsageError, FileNotFoundError, FileExistsError, PermissionError]
    for module, names in EXPECTED_ERRORS:
        if module in sys.modules:
            errors += [getattr(sys.modules[module], name) for name in names]
    return tuple(errors)


def run_app(main):
    """Runs an absl app; known errors become one 'error: ...' line and exit code 2.
    `--help` lists the flags of the module that defines `main`."""

    def guarded(argv):
        logging.set_verbosity(logging.WARNING)
        try:
            return main(argv)
        except Exception as error:  # pylint: disable=broad-except
            if not isinstance(error, expected_errors()):
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    show_flags_in_help(sys.modules[main.__module__])
    app.run(guarded)
