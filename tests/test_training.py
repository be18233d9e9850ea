"""End to end: train (loss falls, accuracy beats chance), resume, export, predict.

One small run is shared by the tests of this module to keep the suite fast.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from flagrun import train

FLAGS = flags.FLAGS
# One line per example (the export's tokenization is compared with the pipeline's);
# packed MLM has its own tests in test_tokenizer_and_masking.py.
SMALL = ["--model=bert_nano", "--seq_len=64", "--global_batch_size=16",
         "--steps_per_loop=20", "--learning_rate=2e-3", "--vocab_size=500",
         "--task_config=packing=false"]


def read_log(model_dir, name="train_log.jsonl"):
    with open(os.path.join(model_dir, name)) as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    logs = train(f"--model_dir={model_dir}", "--train_steps=160", *SMALL)
    return model_dir, logs


def test_loss_falls_and_accuracy_beats_chance(trained):
    model_dir, logs = trained
    log = read_log(model_dir)
    assert [r["step"] for r in log] == [20, 40, 60, 80, 100, 120, 140, 160]
    assert log[-1]["loss"] < 0.6 * log[0]["loss"]
    vocab_size = len(open(os.path.join(model_dir, "vocab.txt")).read().split())
    # Chance is 1/vocab; the most frequent token alone gives well under 0.2.
    assert logs["eval"]["masked_accuracy"] > 0.3 > 10.0 / vocab_size
    assert logs["eval"]["loss"] < log[0]["loss"]


def test_resume_does_nothing_at_the_same_step_then_continues(trained, capsys):
    model_dir, _ = trained
    before = len(read_log(model_dir))
    train(f"--model_dir={model_dir}", "--train_steps=160", *SMALL)
    out = capsys.readouterr().out
    assert "nothing to do" in out and "export: unchanged" in out
    assert os.listdir(os.path.join(model_dir, "export")) == ["1"]
    assert len(read_log(model_dir)) == before
    train(f"--model_dir={model_dir}", "--train_steps=200", "--noexport", *SMALL)
    out = capsys.readouterr().out
    assert "resumed from" in out and "at step 160" in out
    assert [r["step"] for r in read_log(model_dir)[before:]] == [180, 200]
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-200")


def test_resume_with_another_model_config_is_refused(trained):
    model_dir, _ = trained
    from zoo.cli.common import UsageError
    with pytest.raises(UsageError, match=r"model_config.num_layers: 2 -> 3"):
        train(f"--model_dir={model_dir}", "--train_steps=200", "--noexport",
              "--model_overrides=num_layers=3", *SMALL)


def test_export_answers_raw_strings(trained):
    model_dir, _ = trained
    version = os.path.join(model_dir, "export", "1")
    assert os.path.exists(os.path.join(version, "assets", "vocab.txt"))
    assert os.path.exists(os.path.join(version, "assets.extra", "tf_serving_warmup_requests"))
    loaded = tf.saved_model.load(version)
    assert set(loaded.signatures) == {"serving_default", "tokenize"}
    texts = tf.constant(["the small [MASK] runs in the green garden .",
                         "the [MASK] dogs sleep [MASK] .", "no mask here"])
    out = loaded.signatures["serving_default"](text=texts)
    assert out["mask_count"].numpy().tolist() == [1, 2, 0]
    assert out["top_tokens"].dtype == tf.string and out["top_tokens"].shape[-1] == 5
    probs = out["top_probs"].numpy()
    assert np.all(np.diff(probs, axis=-1) <= 0) and np.all(probs <= 1.0)
    # The token right after "small" is an animal in every training sentence.
    from zoo.data.builtin import _ANIMALS
    best = out["top_tokens"][0, 0, 0].numpy().decode()
    assert any(best.startswith(animal) for animal in _ANIMALS), best


def test_tokenization_in_savedmodel_equals_tf_data(trained):
    model_dir, _ = trained
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.data.pipeline.stream import evaluation_dataset
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(model_dir), model_dir)
    eval_file = os.path.join(model_dir, "builtin_eval.txt")
    texts = open(eval_file).read().splitlines()[:8]
    tokenize = tf.saved_model.load(os.path.join(model_dir, "export", "1")).signatures["tokenize"]
    served = tokenize(text=tf.constant(texts))
    # tf.data path: the same encoder the task uses in preprocessing.
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(8).map(run.encoder.encode)
    ids, segments, mask = next(iter(ds))
    np.testing.assert_array_equal(served["token_ids"].numpy(), ids.numpy())
    np.testing.assert_array_equal(served["padding_mask"].numpy(), mask.numpy())
    features, _, _ = next(iter(evaluation_dataset([eval_file], run.task, 8)))
    np.testing.assert_array_equal(features["padding_mask"].numpy(), mask.numpy())


def test_predict_cli_prints_top_tokens(trained, capsys):
    model_dir, _ = trained
    from zoo.cli import predict
    FLAGS.unparse_flags()
    FLAGS(["zoo-predict", f"--export_dir={model_dir}/export", "the [MASK] sat ."])
    predict.main(["zoo-predict", "the [MASK] sat ."])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "the [MASK] sat ."
    assert lines[1].startswith("  [MASK] #1: ") and lines[1].count("|") == 4


def test_second_export_gets_the_next_version(trained):
    model_dir, _ = trained
    from zoo.serve.export import export_model
    path = export_model(model_dir, os.path.join(model_dir, "export"))
    assert path.endswith(os.path.join("export", "2"))
    assert sorted(os.listdir(os.path.join(model_dir, "export"))) == ["1", "2"]
