"""The bad-input catalogue: every case fails (or warns) with this exact text.

Each case builds its bad input under tmp_path and returns (action, error type,
expected message); the message must equal the string, or fully match the
pattern for the one case that holds a traceback. Cases call the library as
zoo-train and zoo-export do (flags become `default_options`), and stop before
any model is built, so the whole file runs in seconds. `python
tests/test_catalogue.py` prints every case with its message.
"""
import os
import re
import sys

import pytest
from absl import flags

from plugins import MODELS, TASKS, ModelSpec, OverrideError, PluginImportError, RegistryError
from plugins.discovery import load_plugins
from zoo.cli.common import UsageError
from zoo.data.readers import DataError, check_readable, iter_rows, read_examples
from zoo.initialization import RestoreError
from zoo.models.presets import BertConfig
from zoo.training import default_options, train_from_flags

WORDS = "the cat sat on a mat and dog ran to park".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def corpus(d):
    return write(d / "corpus.txt", "the cat sat on a mat\na dog ran to the park\n")


def vocab(d):
    return write(d / "vocab.txt", "\n".join(VOCAB) + "\n")


def labelled(d, name="train.tsv", rows=("the cat\tpos", "a dog\tneg")):
    return write(d / name, "text\tlabel\n" + "\n".join(rows) + "\n")


def train(d, **flags_):
    """zoo-train with these flags (tiny settings), stopping before the model is built."""
    options = dict(model="bert_nano", seq_len=16, global_batch_size=2, train_steps=2,
                   model_dir=str(d / "run"), export=False)
    options.update(flags_)
    return lambda: train_from_flags(default_options(**options))


# -- data files -------------------------------------------------------------------

@case
def empty_file(d, _):
    path = write(d / "empty.txt", "")
    return (lambda: check_readable([path]), DataError,
            f"{path}: no examples (the file is empty or only blank lines)")


@case
def only_blank_lines(d, _):
    path = write(d / "blank.txt", "\n  \n\t\n\n")
    return (lambda: check_readable([path]), DataError,
            f"{path}: no examples (the file is empty or only blank lines)")


@case
def invalid_utf8_with_byte_offset(d, _):
    path = write(d / "bin.txt", b"good line\nbad \xff byte\n")
    return (lambda: list(iter_rows(path, ("text",))), DataError,
            f"{path}:2: invalid UTF-8 at byte offset 14")


@case
def tsv_row_with_too_few_columns(d, _):
    path = write(d / "few.tsv", "text\tlabel\nthe cat\tpos\nonly text\n")
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:3: expected 2 columns (text, label), found 1")


@case
def tsv_row_with_too_many_columns(d, _):
    path = write(d / "many.tsv", "text\tlabel\nthe cat\tpos\textra\n")
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:2: expected 2 columns (text, label), found 3")


@case
def missing_header_column(d, _):
    path = write(d / "cols.tsv", "sentence\tscore\nthe cat\t1\n")
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:1: no column 'label' (columns: sentence, score)")


@case
def jsonl_line_not_an_object(d, _):
    path = write(d / "rows.jsonl", '{"text": "the cat", "label": 0}\n["a dog", 1]\n')
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:2: expected a JSON object, got list")


@case
def plain_text_for_a_labelled_task(d, _):
    path = corpus(d)
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}: plain text files hold one field ('text'); this task reads text, "
            "label: use .tsv, .csv or .jsonl, or one aligned text file per field")


@case
def tfrecord_mixed_with_text(d, _):
    text, record = corpus(d), write(d / "r.tfrecord", b"")
    return (lambda: read_examples([record, text]), DataError,
            "TFRecord files cannot be mixed with text formats in one "
            "--train_data/--eval_data list")


@case
def missing_data_file(d, _):
    return (train(d, train_data=f"{d}/no/such/*.txt"), FileNotFoundError,
            f"no data file matches '{d}/no/such/*.txt'")


@case
def label_out_of_range(d, _):
    path = labelled(d, rows=("the cat\t0", "a dog\t2"))
    return (train(d, task="classification", train_data=path, task_config="labels=0|1"),
            DataError, f"{path}:3: label '2' is not one of the 2 classes (0, 1)")


@case
def negative_integer_label(d, _):
    path = labelled(d, rows=("the cat\t0", "a dog\t-1"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:3: negative integer labels are not allowed")


@case
def unknown_string_label_at_eval(d, _):
    train_path = labelled(d)
    eval_path = labelled(d, "dev.tsv", ("the cat\tpos", "a mat\tneutral"))
    return (train(d, task="classification", train_data=train_path, eval_data=eval_path),
            DataError, f"{eval_path}:3: label 'neutral' is not one of the 2 classes (neg, pos)")


@case
def non_numeric_regression_target(d, _):
    path = labelled(d, rows=("the cat\t0.5", "a dog\thigh"))
    return (train(d, task="regression", train_data=path), DataError,
            f"{path}:3: regression target 'high' is not a number")


@case
def non_finite_regression_target(d, _):
    path = labelled(d, rows=("the cat\t0.5", "a dog\tinf"))
    return (train(d, task="regression", train_data=path), DataError,
            f"{path}:3: regression target 'inf' is not finite")


@case
def zero_length_example(d, _):
    path = labelled(d, rows=("the cat\tpos", " \tneg"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:3: field 'text' is empty (a zero-length example)")


@case
def zero_length_second_text_of_a_pair(d, _):
    path = write(d / "pairs.tsv", "text\ttext_b\tlabel\nthe cat\ta dog\t1\nthe cat\t\t0\n")
    return (train(d, task="regression", task_config="pair=true", train_data=path),
            DataError, f"{path}:3: field 'text_b' is empty (a zero-length example)")


@case
def vocab_missing_special_tokens(d, _):
    bad = write(d / "bad_vocab.txt", "[PAD]\n[UNK]\n[CLS]\nthe\ncat\n")
    return (train(d, train_data=corpus(d), vocab=bad), UsageError,
            f"--vocab={bad} is not a usable wordpiece vocabulary: vocab file '{bad}' lacks "
            "the special tokens [SEP], [MASK]; they must each be on a line of their own")


# -- flags ------------------------------------------------------------------------

@case
def global_batch_size_not_divisible_by_replicas(d, monkeypatch):
    import zoo.training

    class TwoReplicas:  # a real split needs a fresh process (tests/test_distribution.py)
        num_replicas_in_sync = 2
    monkeypatch.setattr(zoo.training, "create_strategy", lambda *_: TwoReplicas())
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
            "flag --strategy=tpu_pod: value should be one of <auto|one_device|mirrored>")


@case
def unknown_model_override_field(d, _):
    return (train(d, model_overrides="layers=3"), OverrideError,
            "unknown field 'layers' for BertConfig; fields are: dropout, hidden_dim, "
            "intermediate_dim, max_sequence_length, num_heads, num_layers, num_segments, "
            "vocabulary_size")


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
            f"--init_checkpoint '{source}' is neither a model_dir or checkpoint of zoo-train "
            f"nor a keras-hub preset directory (no config.json in '{source}')")


# -- model_dir, export, output directories -------------------------------------------

def prepared_model_dir(d, monkeypatch, **flags_):
    """Runs zoo-train up to the training loop (config and vocab written, no checkpoint)."""
    import zoo.loop
    monkeypatch.setattr(zoo.loop, "run_training", lambda *_: {})
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
def vocab_differs_from_the_model_dirs(d, monkeypatch):
    model_dir = prepared_model_dir(d, monkeypatch)
    other = write(d / "other_vocab.txt", "\n".join(VOCAB + ["extra"]) + "\n")
    return (train(d, train_data=corpus(d), vocab=other), UsageError,
            f"--vocab={other} differs from the vocab this model_dir was trained with "
            f"({model_dir}/vocab.txt)")


@case
def export_of_a_model_dir_without_checkpoint(d, monkeypatch):
    from zoo.export import export_model
    model_dir = prepared_model_dir(d, monkeypatch)
    return (lambda: export_model(model_dir, str(d / "serving")), FileNotFoundError,
            f"'{model_dir}' has no checkpoint to export; train first")


@case
def export_of_a_directory_that_is_no_model_dir(d, _):
    from zoo.export import export_model
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
def model_dir_without_write_permission(d, _):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = d / "locked"
    locked.mkdir(mode=0o500)
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


@pytest.fixture
def case_env(tmp_path, monkeypatch):
    load_plugins()
    registered = set(MODELS.names())
    yield tmp_path, monkeypatch
    for name in set(MODELS.names()) - registered:  # e.g. a toy model of a case
        MODELS.unregister(name)


@pytest.mark.parametrize("name", list(CASES))
def test_catalogue(name, case_env):
    action, error_type, expected = CASES[name](*case_env)
    with pytest.raises(error_type) as error:
        action()
    message = str(error.value)
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(message), message
    else:
        assert message == expected


def test_catalogue_size():
    assert len(CASES) >= 25


def test_over_long_examples_are_counted_and_reported(tmp_path, monkeypatch, capsys):
    import zoo.loop
    monkeypatch.setattr(zoo.loop, "run_training", lambda *_: {})
    long_text = " ".join(WORDS * 2)  # 22 words: more than 16 - 2 tokens
    path = labelled(tmp_path, rows=(f"{long_text}\tpos", "the cat\tneg", f"{long_text}\tneg"))
    train(tmp_path, task="classification", train_data=path, vocab=vocab(tmp_path))()
    assert ("data check: 2 example(s) have more words than fit in --seq_len=16; they will be "
            "truncated (words are counted, so more may be)") in capsys.readouterr().out.splitlines()


# -- security -------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_pickle_and_no_unsafe_config_parsing():
    """Artifacts are checkpoints, SavedModels (protobuf) and JSON/text; nothing
    unpickles or parses YAML unsafely."""
    unsafe = re.compile(r"\b(import pickle|from pickle|cPickle|import dill|import joblib|"
                        r"import shelve|marshal\.loads?|yaml\.load\(|yaml\.unsafe_load|"
                        r"allow_pickle\s*=\s*True)")
    found = []
    for package in ("zoo", "plugins", "tasks", "benchmarks"):
        for directory, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    text = open(path, encoding="utf-8").read()
                    found += [f"{path}: {m.group(0)}" for m in unsafe.finditer(text)]
    assert found == []


def test_plugins_load_only_from_builtins_entry_points_and_the_flag(tmp_path, monkeypatch,
                                                                   capsys):
    from zoo.cli.common import load_plugins_reporting
    write(tmp_path / "zoo_named_plugin.py", "")
    write(tmp_path / "zoo_unnamed_plugin.py", "")  # on sys.path, but nobody names it
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_plugins_reporting(["zoo_named_plugin"])
    shown = capsys.readouterr().out.splitlines()
    assert ("zoo_named_plugin", "--plugins") in loaded
    assert "zoo_unnamed_plugin" not in sys.modules
    for module, source in loaded:
        assert source in ("built-in", "--plugins") or source.startswith("entry point '")
        # Every plugin that is not built in is listed at start-up; built-ins are not.
        assert (f"plugin: {module} ({source})" in shown) == (source != "built-in")


if __name__ == "__main__":  # prints the catalogue (for the note)
    import tempfile

    class Patch:
        def __init__(self):
            self.undo = []

        def setattr(self, target, name, value, raising=True):
            self.undo.append((target, name, getattr(target, name, None)))
            setattr(target, name, value)

        def syspath_prepend(self, path):
            sys.path.insert(0, path)
    for name, function in CASES.items():
        patch = Patch()
        with tempfile.TemporaryDirectory() as directory:
            from pathlib import Path
            try:
                action, error_type, _ = function(Path(directory), patch)
                action()
                print(f"- {name}: NO ERROR")
            except (Exception, pytest.skip.Exception) as error:  # noqa: BLE001
                print(f"- {name}: {type(error).__name__}: {error}")
            for target, attribute, value in reversed(patch.undo):
                setattr(target, attribute, value)
        if "toy_decoder" in MODELS.names():
            MODELS.unregister("toy_decoder")
