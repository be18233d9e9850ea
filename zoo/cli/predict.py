"""zoo-predict: loads an exported SavedModel and runs raw strings through a signature.

    zoo-predict --export_dir=runs/a/export "the [MASK] sat on the mat ."
    echo "a line per input" | zoo-predict --export_dir=serving/a -
"""
import json
import sys

from absl import flags

from zoo.cli import common

flags.DEFINE_string("signature", "serving_default", "Signature to call.")
flags.DEFINE_boolean("json", False, "Print raw outputs as JSON instead of the task's format.")


def main(argv):
    import tensorflow as tf

    from zoo.export import METADATA_FILE, latest_version_dir
    from zoo.predictions import describe, to_python
    FLAGS = flags.FLAGS
    if not FLAGS.export_dir:
        raise common.UsageError("--export_dir is required")
    texts = argv[1:]
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise common.UsageError("give one or more texts as arguments, or '-' for stdin")
    path = latest_version_dir(FLAGS.export_dir)
    loaded = tf.saved_model.load(path)
    if FLAGS.signature not in loaded.signatures:
        raise common.UsageError(f"'{path}' has no signature '{FLAGS.signature}'; it has: "
                                f"{', '.join(sorted(loaded.signatures))}")
    signature = loaded.signatures[FLAGS.signature]
    input_names = sorted(signature.structured_input_signature[1])
    if len(input_names) != 1:
        raise common.UsageError(f"signature '{FLAGS.signature}' takes inputs "
                                f"{', '.join(input_names)}; zoo-predict feeds one text input")
    outputs = to_python(signature(**{input_names[0]: tf.constant(texts)}))
    with open(f"{path}/assets.extra/{METADATA_FILE}", encoding="utf-8") as handle:
        task = json.load(handle)["task"]
    if FLAGS.json:
        print(json.dumps(outputs, indent=2))
        return
    for line in describe(task, texts, outputs):
        print(line)


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
