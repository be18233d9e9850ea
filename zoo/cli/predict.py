"""zoo-predict: runs raw strings through a signature of an exported SavedModel
(--export_dir) or, without --export_dir, of the latest checkpoint of --model_dir.

    zoo-predict --export_dir=runs/a/export "the [MASK] sat on the mat ."
    echo "a line per input" | zoo-predict --export_dir=serving/a -
    zoo-predict --model_dir=runs/gpt --decoding=sampler=top_p,top_p=0.9 "ROMEO:"
"""
import json
import sys

from absl import flags

from zoo.cli import common

common.declare_shared_flags(__name__, "export_dir", "model_dir", "decoding")
flags.DEFINE_string("signature", "serving_default", "Signature to call.")
flags.DEFINE_boolean("json", False, "Print raw outputs as JSON instead of the task's format.")


def _signature_from_model_dir(model_dir, name, decoding):
    """The task's signature built in-process from the latest checkpoint."""
    import tensorflow as tf

    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    config = load_run_config(model_dir)
    common.load_plugins_reporting(list(config.plugins))
    from zoo.train.checkpoint_repair import latest_restorable
    checkpoint = latest_restorable(model_dir)
    if not checkpoint:
        raise FileNotFoundError(f"'{model_dir}' has no checkpoint; train first")
    run = assemble(config, model_dir, decoding=decoding)
    tf.train.Checkpoint(model=run.model).restore(checkpoint).expect_partial()
    signatures = run.task.serving_signatures(run.model)
    if name not in signatures:
        raise common.UsageError(f"task '{config.task}' has no signature '{name}'; it has: "
                                f"{', '.join(sorted(signatures))}")
    function = signatures[name]
    names = [spec.name for spec in function.input_signature]
    # Called by input name like an exported signature (the Python argument
    # names may differ from the TensorSpec names).
    return (lambda **inputs: function(*(inputs[n] for n in names))), names, config.task


def _signature_from_export(export_dir, name):
    import tensorflow as tf

    from zoo.serve.export import METADATA_FILE, latest_version_dir
    path = latest_version_dir(export_dir)
    loaded = tf.saved_model.load(path)
    if name not in loaded.signatures:
        raise common.UsageError(f"'{path}' has no signature '{name}'; it has: "
                                f"{', '.join(sorted(loaded.signatures))}")
    signature = loaded.signatures[name]
    from zoo.fileio import read_text
    task = json.loads(read_text(f"{path}/assets.extra/{METADATA_FILE}"))["task"]
    return signature, sorted(signature.structured_input_signature[1]), task


def main(argv):
    from zoo.cli.devices import report_devices
    report_devices()  # (before TensorFlow's first use)
    import tensorflow as tf

    from zoo.serve.predictions import describe, to_python
    FLAGS = flags.FLAGS
    texts = argv[1:]
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise common.UsageError("give one or more texts as arguments, or '-' for stdin")
    if FLAGS.export_dir:
        if FLAGS.decoding:
            raise common.UsageError("--decoding applies to --model_dir; an export decodes "
                                    "as it was exported (zoo-export --decoding=...)")
        signature, input_names, task = _signature_from_export(FLAGS.export_dir, FLAGS.signature)
    else:
        signature, input_names, task = _signature_from_model_dir(
            FLAGS.model_dir, FLAGS.signature, FLAGS.decoding)
    if len(input_names) != 1:
        raise common.UsageError(f"signature '{FLAGS.signature}' takes inputs "
                                f"{', '.join(input_names)}; zoo-predict feeds one text input")
    outputs = to_python(signature(**{input_names[0]: tf.constant(texts)}))
    if FLAGS.json:
        print(json.dumps(outputs, indent=2))
        return
    for line in describe(task, texts, outputs):
        print(line)


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
