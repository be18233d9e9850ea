"""Runs zoo-train in the test process from command-line flags (one TensorFlow import
for the whole file; absl's flags are reset before each run).

Example:
    >>> from flagrun import train
    >>> logs = train("--model=bert_nano", "--train_steps=5", "--model_dir=/tmp/run")
"""
from absl import flags

from zoo.cli import train as train_cli  # defines the zoo-train flags
from zoo.train.job import train_from_flags


def train(*args):
    """Parses `args` as zoo-train's flags and trains; returns the final logs."""
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["zoo-train", *args])
    return train_from_flags(train_cli.train_options())
