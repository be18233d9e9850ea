"""zoo-train's flags fill the TrainOptions the runtime takes: the same names and
defaults, and nothing else reaches the runtime."""
import dataclasses

import pytest
from absl import flags

from zoo.cli import train as train_cli  # defines the zoo-train flags
from zoo.train.options import TrainOptions, UsageError, default_options


def zoo_train_flags():
    """zoo-train's flags: those zoo.cli.train defines and the shared ones it reads."""
    return {flag.name: flag for flag in flags.FLAGS.get_key_flags_for_module(train_cli)}


def test_every_flag_is_an_option_with_the_same_default():
    fields = {field.name: field.default for field in dataclasses.fields(TrainOptions)}
    defaults = {name: tuple(flag.default) if isinstance(flag.default, list) else flag.default
                for name, flag in zoo_train_flags().items()}
    assert defaults == fields


def test_parsed_flags_become_options():
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["zoo-train", "--model=bert_nano", "--train_steps=7", "--plugins=a.b,c",
                     "--noexport", "--worker_hosts=h:1,h:2"])
        opts = train_cli.train_options()
    finally:
        flags.FLAGS.unparse_flags()
    assert opts == dataclasses.replace(TrainOptions(), model="bert_nano", train_steps=7,
                                       plugins=("a.b", "c"), export=False,
                                       worker_hosts=("h:1", "h:2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.seed = 1


def test_default_options_names_unknown_options():
    assert default_options(seq_len=16) == TrainOptions(seq_len=16)
    assert default_options(plugins=["x.y"]).plugins == ("x.y",)
    with pytest.raises(UsageError, match="^unknown zoo-train options: sequence_length, stpes$"):
        default_options(stpes=3, sequence_length=16, seed=1)


def test_the_runtime_takes_options_not_flags():
    from zoo.train.job import train_from_flags
    with pytest.raises(TypeError, match="train_from_flags takes TrainOptions"):
        train_from_flags(flags.FLAGS)
