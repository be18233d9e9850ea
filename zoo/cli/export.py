"""zoo-export: writes <export_dir>/<version>/ from the latest checkpoint of --model_dir.

    zoo-export --model_dir=runs/a --export_dir=serving/a
    zoo-export --model_dir=runs/a --quantize=int8 --eval_data=dev.tsv   # + size/metric report
    zoo-export --model_dir=runs/a --format=transformers   # runs/a/transformers/1: config.json,
                                                          # model.safetensors, tokenizer files
"""
from absl import flags

from zoo.cli import common

common.declare_shared_flags(__name__, "model_dir", "export_dir", "eval_data", "columns",
                            "plugins", "decoding")
flags.DEFINE_string("checkpoint", "", "Checkpoint to export; empty: the latest in --model_dir.")
flags.DEFINE_enum("quantize", "", ["", "int8"], "Weight-only post-training quantization of "
                  "the export (Keras int8 kernels and embeddings); empty: float weights.")
flags.DEFINE_integer("eval_batch_size", 64, "Batch size of the --eval_data evaluation.")
flags.DEFINE_integer("average_checkpoints", 0, "Export the mean of the last N "
                     "checkpoints (ending at --checkpoint when given); 0 or 1: one checkpoint.")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "transformers"],
                  "saved_model: a SavedModel for TF Serving (raw-text signatures). "
                  "transformers: the backbone as a Hugging Face directory (config.json, "
                  "model.safetensors, tokenizer files; BERT, GPT-2, T5) that --init_checkpoint "
                  "and transformers' from_pretrained read; its --export_dir defaults to "
                  "<model_dir>/transformers.")

#: The file that marks a version directory of each --format.
VERSION_MARKERS = {"saved_model": "saved_model.pb", "transformers": "model.safetensors"}


def main(argv):
    import os

    from zoo.cli.devices import report_devices
    report_devices()  # (before TensorFlow's first use)
    from zoo.serve.export import export_model
    from zoo.run_config import load_run_config
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = load_run_config(FLAGS.model_dir)
    FLAGS.plugins = list(FLAGS.plugins) or list(config.plugins)
    common.load_plugins_reporting()
    if FLAGS.format == "transformers":
        return export_transformers_format(FLAGS)
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.model_dir, "export")
    if FLAGS.average_checkpoints > 1:  # too few kept: a usage error, before any work
        from zoo.evaluate.averaging import last_checkpoints
        try:
            last_checkpoints(FLAGS.model_dir, FLAGS.average_checkpoints, FLAGS.checkpoint)
        except ValueError as error:
            raise common.UsageError(str(error)) from None
    check_export_dir(export_dir, FLAGS.format)
    eval_paths = []
    columns = FLAGS.columns or config.training.get("columns", "")  # (default: the run's)
    if FLAGS.eval_data:
        from zoo.data.formats.files import expand_paths
        from zoo.data.formats.readers import aligned_sources, check_columns, check_readable
        try:
            check_columns(columns, config.data_fields)
        except ValueError as error:
            raise common.UsageError(str(error)) from None
        eval_paths = aligned_sources(expand_paths(FLAGS.eval_data), config.data_fields)
        check_readable(eval_paths, config.data_fields, config.text_mode, columns)
    from zoo.run_lock import claim
    from zoo.serve.quantize import QuantizeError
    try:
        with claim(FLAGS.model_dir, "zoo-export"):  # (not beside a zoo-train that writes it)
            path = export_model(FLAGS.model_dir, export_dir, FLAGS.checkpoint or None,
                                FLAGS.decoding, FLAGS.quantize, eval_paths,
                                FLAGS.eval_batch_size, columns,
                                average_checkpoints=FLAGS.average_checkpoints)
    except QuantizeError as error:
        raise common.UsageError(f"{error}; nothing was exported") from error
    print(f"export: {path}")
    print_report(path)


def check_export_dir(export_dir, format_name):
    """Refuses an export_dir whose versions are of the other --format: TF Serving
    loads the highest version, and it must be a SavedModel."""
    from zoo import fileio
    if not fileio.isdir(export_dir):
        return
    for name in fileio.listdir(export_dir):
        for other, marker in VERSION_MARKERS.items():
            if other != format_name and name.strip("/").isdigit() and \
                    fileio.exists(fileio.join(export_dir, name.strip("/"), marker)):
                raise common.UsageError(
                    f"'{export_dir}' holds --format={other} versions ({name.strip('/')}/"
                    f"{marker}); give --format={format_name} an --export_dir of its own")


def export_transformers_format(FLAGS):
    """--format=transformers: the backbone as a Hugging Face directory."""
    import json
    import os

    from zoo.fileio import read_text
    from zoo.serve.hf_export import METADATA_FILE, HfExportError, export_transformers
    unused = [f"--{name}" for name in ("decoding", "quantize", "eval_data")
              if FLAGS[name].value]
    if unused:
        raise common.UsageError(f"{', '.join(unused)} apply to --format=saved_model only; "
                                "--format=transformers writes the float backbone weights")
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.model_dir, "transformers")
    check_export_dir(export_dir, "transformers")
    from zoo.run_lock import claim
    try:
        with claim(FLAGS.model_dir, "zoo-export"):  # (not beside a zoo-train that writes it)
            path = export_transformers(FLAGS.model_dir, export_dir, FLAGS.checkpoint or None,
                                       FLAGS.average_checkpoints)
    except HfExportError as error:
        raise common.UsageError(f"--format=transformers: {error}; nothing was "
                                "exported") from None
    metadata = json.loads(read_text(f"{path}/{METADATA_FILE}"))
    print(f"export: {path}")
    source = metadata["checkpoint"] if "averaged" not in metadata else \
        f"the mean of {', '.join(metadata['averaged'])}"
    print(f"weights: {metadata['model_type']} backbone, {metadata['tensors']} tensors "
          f"({metadata['values']:,} values) from {source}"
          + (f"; not exported (the task head): {len(metadata['not_exported'])} variables"
             if metadata["not_exported"] else ""))


def print_report(path):
    """Size on disk of the export (and of the float one when quantized) and the
    eval metrics before and after quantization, from the export's zoo.json."""
    import json

    from zoo.fileio import read_text
    from zoo.serve.export import METADATA_FILE
    from zoo.serve.quantize import directory_bytes
    metadata = json.loads(read_text(f"{path}/assets.extra/{METADATA_FILE}"))
    mode = metadata.get("quantize") or "float"
    size = directory_bytes(path)
    if "float_bytes" in metadata:
        print(f"size: float {metadata['float_bytes']:,} bytes -> {mode} {size:,} bytes "
              f"({size / metadata['float_bytes']:.2f}x)")
    else:
        print(f"size: {mode} {size:,} bytes")
    for name, results in metadata.get("eval", {}).items():
        if name != "data":
            print(f"eval {name}: " + " | ".join(f"{k} {v:.4f}" for k, v in results.items()))


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
