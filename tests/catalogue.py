"""The bad-input catalogue's kit: the case registry, input builders and runner.

Each case builds its bad input under tmp_path and returns (action, error type,
expected message); the message must equal the string, or fully match the
pattern for the one case that holds a traceback. Cases call the library as
zoo-train and zoo-export do (flags become `default_options`), and stop before
any model is built. The cases are in `test_catalogue_data.py` and `test_catalogue_fields.py` (input files)
and `test_catalogue_runs.py` (flags, directories, plugins); `python
tests/test_catalogue_runs.py` prints every case with its message.

Example:
    @case
    def empty_file(d, _):
        path = write(d / "e.txt", "")
        return lambda: check_readable([path]), DataError, f"{path}: no examples ..."
"""
import re
import sys

import pytest

from plugins import MODELS
from zoo.train.job import default_options, train_from_flags

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


def cases_of(module_name):
    """The names of the cases a test module defines."""
    return [name for name, function in CASES.items() if function.__module__ == module_name]


def check_case(name, env):
    action, error_type, expected = CASES[name](*env)
    with pytest.raises(error_type) as error:
        action()
    message = str(error.value)
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(message), message
    else:
        assert message == expected


def print_catalogue():
    """Prints every registered case with the message it produces."""
    import tempfile
    from pathlib import Path

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
