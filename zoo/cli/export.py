"""zoo-export: writes <export_dir>/<version>/ from the latest checkpoint of --model_dir.

    zoo-export --model_dir=runs/a --export_dir=serving/a
"""
from absl import flags

from zoo.cli import common

flags.DEFINE_string("checkpoint", "", "Checkpoint to export; empty: the latest in --model_dir.")
flags.DEFINE_string("decoding", "", "Decoding options of generative tasks baked into the "
                    "export, e.g. sampler=top_p,top_p=0.9,temperature=0.8 or "
                    "sampler=beam,num_beams=4,length_penalty=0.6.")


def main(argv):
    import os

    from zoo.export import export_model
    from zoo.run_config import load_run_config
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = load_run_config(FLAGS.model_dir)
    FLAGS.plugins = list(FLAGS.plugins) or list(config.plugins)
    common.load_plugins_reporting()
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.model_dir, "export")
    path = export_model(FLAGS.model_dir, export_dir, FLAGS.checkpoint or None, FLAGS.decoding)
    print(f"export: {path}")


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
