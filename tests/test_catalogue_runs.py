"""Bad-input catalogue, part 2: flags, directories and plugins (see catalogue.py).

`python tests/test_catalogue_runs.py` prints every case of both parts.
"""
import os
import re

import pytest
from absl import flags

from plugins import MODELS, TASKS, ModelSpec, OverrideError, PluginImportError, RegistryError
from plugins.discovery import load_plugins
from zoo.cli.common import UsageError
from zoo.train.initialization import RestoreError
from zoo.models.presets import BertConfig
from catalogue import VOCAB, case, cases_of, check_case, corpus, train, vocab, write


# -- flags ------------------------------------------------------------------------

@case
def global_batch_size_not_divisible_by_replicas(d, monkeypatch):
    import zoo.train.job

    class TwoReplicas:  # a real split needs a fresh process (tests/test_distribution.py)
        num_replicas_in_sync = 2
    monkeypatch.setattr(zoo.train.job, "create_strategy", lambda *_: TwoReplicas())
    return (train(d, global_batch_size=3, strategy="mirrored"), UsageError,
            "--global_batch_size=3 is not divisible by the 2 replicas of --strategy=mirrored")


@case
def seq_len_beyond_the_position_table(d, _):
    return (train(d, seq_len=129), UsageError,
            "--seq_len=129 exceeds the position table of 'bert_nano' (max_sequence_length=128)")


@case
def non_positive_step_count(d, _):
    return train(d, train_steps=0), UsageError, "--train_steps must be positive, got 0"


@case
def negative_learning_rate(d, _):  # (trained by gradient ascent, in silence)
    return (train(d, learning_rate=-0.001), UsageError,
            "--learning_rate must be a finite number > 0, got -0.001")


@case
def nan_learning_rate(d, _):  # (stopped with "the loss is nan in steps 1-4")
    return (train(d, learning_rate=float("nan")), UsageError,
            "--learning_rate must be a finite number > 0, got nan")


@case
def negative_weight_decay(d, _):
    return (train(d, weight_decay=-0.1), UsageError,
            "--weight_decay must be a finite number >= 0, got -0.1")


@case
def zero_adam_epsilon(d, _):
    return (train(d, adam_epsilon=0.0), UsageError,
            "--adam_epsilon must be a finite number > 0, got 0.0")


@case
def adam_epsilon_with_adafactor(d, _):
    return (train(d, optimizer="adafactor", adam_epsilon=1e-7), UsageError,
            "--adam_epsilon needs --optimizer=adamw, got --optimizer=adafactor")


@case
def infinite_clip_norm(d, _):
    return (train(d, clip_norm=float("inf")), UsageError,
            "--clip_norm must be a finite number >= 0 (0: no clipping), got inf")


@case
def zero_eval_steps(d, _):
    return (train(d, eval_steps=0), UsageError,
            "--eval_steps must be -1 (all of --eval_data) or an integer >= 1, got 0")


@case
def zero_keep_checkpoints(d, _):
    return (train(d, keep_checkpoints=0), UsageError,
            "--keep_checkpoints must be an integer >= 1, got 0")


@case
def zero_grace_period(d, _):
    return (train(d, grace_period=0.0), UsageError,
            "--grace_period must be a finite number > 0 (seconds), got 0.0")


@case
def vocab_size_below_the_special_tokens(d, monkeypatch):  # (blamed the zoo's own vocab file)
    import zoo.train.job
    monkeypatch.setattr(zoo.train.job, "check_task_rows", fail_if_called)
    return (train(d, vocab_size=3, train_data=corpus(d)), UsageError,
            "--vocab_size=3 leaves no room for a learned token: a wordpiece vocab of "
            "'bert_nano' starts with 5 special tokens; give at least 6")


@case
def vocab_size_below_the_sentinels(d, monkeypatch):
    import zoo.train.job
    monkeypatch.setattr(zoo.train.job, "check_task_rows", fail_if_called)
    return (train(d, model="t5_nano", task="span_corruption", vocab_size=100,
                  train_data=corpus(d)), UsageError,
            "--vocab_size=100 leaves no room for a learned token: a sentencepiece_unigram "
            "vocab of 't5_nano' starts with 5 special tokens and 100 sentinels; give at "
            "least 106")


def fail_if_called(*_):
    raise AssertionError("the data was read before the flags were checked")


@case
def seq_len_that_leaves_no_room_for_mlm(d, _):
    return (train(d, task="mlm", seq_len=1), UsageError,
            "--seq_len=1 leaves no room for task 'mlm': it needs at least 3 (its special "
            "tokens plus one token of text)")


@case
def seq_len_that_leaves_no_room_for_a_text_pair(d, _):
    return (train(d, task="classification", task_config="pair=true", seq_len=4), UsageError,
            "--seq_len=4 leaves no room for task 'classification': it needs at least 5 (its "
            "special tokens plus one token of text)")


@case
def seq_len_that_leaves_no_room_for_nsp(d, _):
    return (train(d, task="mlm_nsp", seq_len=3), UsageError,
            "--seq_len=3 leaves no room for task 'mlm_nsp': it needs at least 5 (its special "
            "tokens plus one token of text)")


@case
def seq_len_that_leaves_no_room_for_generation(d, _):
    return (train(d, model="gpt_nano", task="clm", seq_len=2), UsageError,
            "--seq_len=2 leaves no room for task 'clm': it needs at least 3 (its special "
            "tokens plus one token of text)")


@case
def seq_len_that_leaves_no_room_for_translation(d, _):
    return (train(d, model="t5_nano", task="translation", seq_len=1), UsageError,
            "--seq_len=1 leaves no room for task 'translation': it needs at least 2 (its "
            "special tokens plus one token of text)")


@case
def eval_data_without_train_data(d, _):
    return (train(d, eval_data=corpus(d)), UsageError, "--eval_data needs --train_data")


@case
def unknown_model(d, _):
    return (train(d, model="bert_mimi"), RegistryError,
            f"unknown model 'bert_mimi'. Did you mean: bert_mini, bert_medium, bert_tiny? "
            f"Registered models: "
            f"{', '.join(MODELS.names())}. More can be loaded with --plugins=package.module "
            "or by installing a package with a 'zoo.models' entry point.")


@case
def unknown_task(d, _):
    return (train(d, task="clasification"), RegistryError,
            f"unknown task 'clasification'. Did you mean: classification? Registered tasks: "
            f"{', '.join(TASKS.names())}. More can be loaded with --plugins=package.module "
            "or by installing a package with a 'zoo.tasks' entry point.")


@case
def unknown_strategy(d, _):
    import importlib
    importlib.import_module("zoo.cli.train")  # defines the flags

    def parse():
        try:
            flags.FLAGS(["zoo-train", "--strategy=tpu_pod"])
        finally:
            flags.FLAGS.unparse_flags()
    return (parse, flags.IllegalFlagValueError,
            "flag --strategy=tpu_pod: value should be one of "
            "<auto|one_device|mirrored|multi_worker|tpu>")


@case
def unknown_model_override_field(d, _):
    return (train(d, model_overrides="layers=3"), OverrideError,
            "unknown field 'layers' for BertConfig; fields are: activation, dropout, "
            "hidden_dim, initializer, intermediate_dim, layer_norm_epsilon, max_sequence_length, "
            "normalize_first, "
            "num_heads, num_layers, "
            "num_segments, vocabulary_size")


@case
def task_incompatible_with_model_family(d, monkeypatch):
    MODELS.register("toy_decoder", ModelSpec("toy_decoder", "decoder", None,
                                             BertConfig(1, 8, 1, 8)), source="test")
    return (train(d, model="toy_decoder"), UsageError,
            "task 'mlm' cannot train model 'toy_decoder' of family 'decoder'; it accepts "
            "families: encoder")


@case
def init_checkpoint_of_another_family(d, _):
    source = write(d / "gpt_run" / "config.json",
                   '{"model": "toy_gpt", "family": "decoder", "model_config": {}, '
                   '"task": "clm", "task_config": {}, "seq_len": 16}')
    source = os.path.dirname(source)
    return (train(d, train_data=corpus(d), init_checkpoint=source), RestoreError,
            f"--init_checkpoint '{source}' holds a 'toy_gpt' model of family 'decoder'; this "
            "run needs family 'encoder'")


@case
def init_checkpoint_that_is_no_run(d, _):
    source = str(d / "empty_dir")
    os.makedirs(source)
    return (train(d, init_checkpoint=source), FileNotFoundError,
            f"--init_checkpoint '{source}' is neither a model_dir or checkpoint of zoo-train, "
            f"a keras-hub preset directory nor a Hugging Face directory (no config.json in "
            f"'{source}')")


# -- model_dir, export, output directories -------------------------------------------

def prepared_model_dir(d, monkeypatch, **flags_):
    """Runs zoo-train up to the training loop (config and vocab written, no checkpoint)."""
    import zoo.train.loop
    monkeypatch.setattr(zoo.train.loop, "run_training", lambda *_: {})
    train(d, train_data=corpus(d), vocab=vocab(d), **flags_)()
    return str(d / "run")


@case
def resume_with_another_configuration(d, monkeypatch):
    model_dir = prepared_model_dir(d, monkeypatch)
    return (train(d, train_data=corpus(d), seq_len=32, model_overrides="num_layers=1"),
            UsageError,
            f"'{model_dir}' holds a run with another configuration; refusing to resume it. "
            "Differences (saved -> requested): model_config.num_layers: 2 -> 1; seq_len: 16 -> "
            "32. Use a new --model_dir.")


@case
def resume_with_another_training_stream(d, monkeypatch):
    model_dir = prepared_model_dir(d, monkeypatch)
    return (train(d, train_data=corpus(d), global_batch_size=4, seed=1), UsageError,
            f"'{model_dir}' holds a run whose training stream these options would order "
            "differently; refusing to resume it (a resumed run skips the batches it already "
            "trained on). Differences (saved -> requested): --global_batch_size: 2 -> 4; "
            "--seed: 0 -> 1. Use the saved values or a new --model_dir.")


@case
def vocab_differs_from_the_model_dirs(d, monkeypatch):
    model_dir = prepared_model_dir(d, monkeypatch)
    other = write(d / "other_vocab.txt", "\n".join(VOCAB + ["extra"]) + "\n")
    return (train(d, train_data=corpus(d), vocab=other), UsageError,
            f"--vocab={other} differs from the vocab this model_dir was trained with "
            f"({model_dir}/vocab.txt)")


@case
def export_of_a_model_dir_without_checkpoint(d, monkeypatch):
    from zoo.serve.export import export_model
    model_dir = prepared_model_dir(d, monkeypatch)
    return (lambda: export_model(model_dir, str(d / "serving")), FileNotFoundError,
            f"'{model_dir}' has no checkpoint to export; train first")


@case
def export_of_a_directory_that_is_no_model_dir(d, _):
    from zoo.serve.export import export_model
    return (lambda: export_model(str(d), str(d / "serving")), FileNotFoundError,
            f"'{d}' has no config.json: it is not a model_dir written by zoo-train")


@case
def model_dir_that_cannot_be_created(d, _):
    blocker = write(d / "a_file", "")
    return (train(d, train_data=corpus(d), model_dir=f"{blocker}/run"), PermissionError,
            f"cannot create --model_dir '{blocker}/run': Not a directory")


@case
def export_dir_that_cannot_be_created(d, _):
    blocker = write(d / "a_file", "")
    return (train(d, train_data=corpus(d), export=True, export_dir=f"{blocker}/serving"),
            PermissionError, f"cannot create --export_dir '{blocker}/serving': Not a directory")


@case
def model_dir_that_is_a_regular_file(d, _):
    blocker = write(d / "a_file", "")  # (fails for root too)
    return (train(d, train_data=corpus(d), model_dir=blocker), PermissionError,
            f"cannot create --model_dir '{blocker}': File exists")


@case
def model_dir_without_write_permission(d, monkeypatch):
    locked = d / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root passes every permission check: answer as for other users
        access = os.access

        def user_access(path, mode, *args, **kwargs):
            if os.fspath(path) == str(locked) and mode & os.W_OK:
                return False
            return access(path, mode, *args, **kwargs)
        monkeypatch.setattr(os, "access", user_access)
    return (train(d, train_data=corpus(d), model_dir=str(locked)), PermissionError,
            f"--model_dir '{locked}' is not writable")


# -- plugins ----------------------------------------------------------------------

@case
def plugin_module_that_fails_to_import(d, monkeypatch):
    path = write(d / "plugins_dir" / "zoo_broken_plugin.py", "import os\nvalue = 1 / 0\n")
    monkeypatch.syspath_prepend(os.path.dirname(path))
    return (lambda: load_plugins(["zoo_broken_plugin"]), PluginImportError, re.compile(
        r"plugin module 'zoo_broken_plugin' \(from --plugins\) failed to import: "
        r"ZeroDivisionError: division by zero\.\n"
        r"Traceback \(most recent call last\):\n.*"
        rf'  File "{re.escape(path)}", line 2, in <module>\n'
        r"    value = 1 / 0\n.*"
        r"ZeroDivisionError: division by zero\n", re.DOTALL))


@case
def unexpected_positional_argument(d, _):
    from zoo.cli.train import main
    return (lambda: main(["zoo-train", "corpus.txt"]), UsageError,
            "unexpected arguments: corpus.txt")


@pytest.mark.parametrize("name", cases_of(__name__))
def test_catalogue(name, case_env):
    check_case(name, case_env)


def test_catalogue_size():
    import importlib
    for module in ("test_catalogue_data", "test_catalogue_fields"):  # the data cases
        importlib.import_module(module)
    from catalogue import CASES
    assert len(CASES) >= 50


if __name__ == "__main__":
    import importlib
    for module in ("test_catalogue_data", "test_catalogue_fields"):
        importlib.import_module(module)
    from catalogue import print_catalogue
    print_catalogue()
