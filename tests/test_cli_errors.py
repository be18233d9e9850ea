"""Bad flags fail before any work, with messages that say what exists."""
import os
import subprocess
import sys

import pytest
from absl import flags

from plugins import MODELS, ModelSpec, RegistryError
from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.cli.common import UsageError
from zoo.models.presets import BertConfig
from flagrun import train

FLAGS = flags.FLAGS


@pytest.fixture
def model_dir(tmp_path):
    path = tmp_path / "run"
    yield str(path)
    assert not path.exists(), "a failed check must not create the model_dir"


def test_unknown_model_lists_registered_models(model_dir):
    with pytest.raises(RegistryError) as error:
        train(f"--model_dir={model_dir}", "--model=bert_mimi")
    message = str(error.value)
    assert message.startswith("unknown model 'bert_mimi'. Did you mean: bert_mini")
    assert "Registered models: bert_base, bert_large, bert_medium, bert_mini, bert_nano" in message
    assert "--plugins=package.module" in message and "'zoo.models' entry point" in message


def test_unknown_task_lists_registered_tasks(model_dir):
    with pytest.raises(RegistryError, match=r"unknown task 'mln'\. Did you mean: mlm, mlm_nsp\? "
                                            r"Registered tasks: classification, clm, .*mlm, mlm_nsp"):
        train(f"--model_dir={model_dir}", "--task=mln")


def test_missing_data_file_is_named(model_dir):
    with pytest.raises(FileNotFoundError, match="no data file matches '/no/such/corpus.txt'"):
        train(f"--model_dir={model_dir}", "--train_data=/no/such/corpus.txt")


def test_seq_len_beyond_position_table(model_dir):
    with pytest.raises(UsageError, match=r"--seq_len=256 exceeds the position table of "
                                         r"'bert_nano' \(max_sequence_length=128\)"):
        train(f"--model_dir={model_dir}", "--model=bert_nano", "--seq_len=256")


def test_unknown_override_field(model_dir):
    from plugins import OverrideError
    with pytest.raises(OverrideError, match="unknown field 'layers' for BertConfig; fields are: "
                                            "activation, dropout, hidden_dim, initializer, intermediate_dim"):
        train(f"--model_dir={model_dir}", "--model_overrides=layers=3")


def test_task_incompatible_with_family(model_dir):
    MODELS.register("toy_decoder", ModelSpec("toy_decoder", "decoder", None, BertConfig(1, 8, 1, 8)),
                    source="test")
    try:
        with pytest.raises(UsageError, match="task 'mlm' cannot train model 'toy_decoder' of "
                                             "family 'decoder'; it accepts families: encoder"):
            train(f"--model_dir={model_dir}", "--model=toy_decoder")
    finally:
        MODELS.unregister("toy_decoder")


def test_bucketing_is_refused_for_packed_tasks(model_dir):
    with pytest.raises(UsageError, match=r"--batching=bucket groups independent examples by "
                                         r"length, but task 'clm' packs its text into full rows"):
        train(f"--model_dir={model_dir}", "--model=gpt_nano", "--task=clm", "--batching=bucket")


def test_cli_exit_code_and_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "zoo.cli.train", f"--model_dir={tmp_path}/x", "--model=gpt9"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown model 'gpt9'.")
    assert "Traceback" not in result.stderr
    assert not os.path.exists(f"{tmp_path}/x")
