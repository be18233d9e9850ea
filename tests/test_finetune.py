"""Fine-tuning: label mapping, bad labels, restore report, freezing, export parity."""
import contextlib
import io
import os
import random

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.data.formats.readers import DataError
from flagrun import train

FLAGS = flags.FLAGS
NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=16", "--steps_per_loop=20",
        "--vocab_size=300", "--learning_rate=2e-3"]
POSITIVE = ["good", "great", "fine", "lovely", "superb"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring"]
FILLER = ["the", "film", "was", "a", "story", "with", "actors", "and", "music", "plot"]


def write_sentiment(path, rows, seed, labels=("neg", "pos")):
    rng = random.Random(seed)
    lines = ["sentence\tlabel"]
    for _ in range(rows):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, 5) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)} \t{labels[label]}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"train": write_sentiment(root / "train.tsv", 800, 0),
            "dev": write_sentiment(root / "dev.tsv", 120, 1), "root": root}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data):
    model_dir = str(tmp_path_factory.mktemp("pre"))
    train(f"--model_dir={model_dir}", "--task=mlm", f"--train_data={data['train']}",
          "--train_steps=20", "--noexport", *NANO)
    return model_dir


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, data, pretrained):
    """(model_dir, final logs, stdout) of a classifier fine-tuned from `pretrained`."""
    model_dir = str(tmp_path_factory.mktemp("cls"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        logs = train(f"--model_dir={model_dir}", "--task=classification",
                     f"--train_data={data['train']}", f"--eval_data={data['dev']}",
                     f"--init_checkpoint={pretrained}", "--train_steps=120", *NANO)
    return model_dir, logs, out.getvalue()


def test_classifier_learns_and_reports_all_metrics(classifier):
    _, logs, _ = classifier
    assert logs["eval"]["accuracy"] > 0.9
    assert logs["eval"]["macro_f1"] > 0.9 and logs["eval"]["matthews_corr"] > 0.8


def test_string_labels_are_stored_and_exported(classifier, data):
    model_dir, _, _ = classifier
    from zoo.run_config import load_run_config
    assert load_run_config(model_dir).task_config["labels"] == "neg|pos"
    loaded = tf.saved_model.load(os.path.join(model_dir, "export", "1"))
    out = loaded.signatures["serving_default"](
        text=tf.constant(["the film was superb", "the film was awful"]))
    assert [v.decode() for v in out["label"].numpy()] == ["pos", "neg"]
    assert out["label_id"].numpy().tolist() == [1, 0]
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)


def test_exported_predictions_equal_eval_time_predictions(classifier, data):
    model_dir, _, _ = classifier
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.data.pipeline.stream import evaluation_dataset
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(model_dir), model_dir)
    tf.train.Checkpoint(model=run.model).restore(
        tf.train.latest_checkpoint(model_dir)).expect_partial()
    features, labels, _ = next(iter(evaluation_dataset([data["dev"]], run.task, 64)))
    eval_ids = tf.argmax(run.model(features, training=False), -1).numpy()
    texts = [line.split("\t")[0] for line in open(data["dev"]).read().splitlines()[1:65]]
    loaded = tf.saved_model.load(os.path.join(model_dir, "export", "1"))
    served = loaded.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_array_equal(served["label_id"].numpy(), eval_ids)


def test_zoo_predict_prints_the_exported_labels(classifier, capsys):
    model_dir, _, _ = classifier
    from zoo.cli import predict
    texts = ["the film was superb", "the film was awful", "a story with dull music"]
    FLAGS.unparse_flags()
    FLAGS(["zoo-predict", f"--export_dir={model_dir}/export", *texts])
    predict.main(["zoo-predict", *texts])
    printed = capsys.readouterr().out.splitlines()[-3:]
    loaded = tf.saved_model.load(os.path.join(model_dir, "export", "1"))
    labels = loaded.signatures["serving_default"](text=tf.constant(texts))["label"].numpy()
    assert [line.split("\t")[0] for line in printed] == [v.decode() for v in labels]
    assert [line.split("\t")[2] for line in printed] == texts


def test_restore_report_lists_restored_and_new(classifier):
    _, _, out = classifier
    assert "restored 39 variables" in out and "newly initialised 2, unmatched 0" in out
    assert "  new: head/kernel\n  new: head/bias" in out


def test_init_from_another_size_fails_before_work(pretrained, tmp_path, data):
    from zoo.train.initialization import RestoreError
    args = [f"--model_dir={tmp_path}/b", "--task=classification", f"--train_data={data['train']}",
            f"--init_checkpoint={pretrained}", *NANO, "--model=bert_tiny"]
    with pytest.raises(RestoreError, match="holds a 'bert_nano' backbone of another shape: "
                                           "hidden_dim: 64 in the checkpoint, 128 here"):
        train(*args)
    assert not os.path.exists(f"{tmp_path}/b")


def _backbone_and_head(model_dir):
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(model_dir), model_dir)
    tf.train.Checkpoint(model=run.model).restore(
        tf.train.latest_checkpoint(model_dir)).expect_partial()
    return ([v.numpy() for v in run.backbone.weights],
            [v.numpy() for v in run.model.get_layer("head").weights])


def test_freeze_backbone_trains_only_the_head(pretrained, tmp_path, data, capsys):
    model_dir = f"{tmp_path}/probe"
    train(f"--model_dir={model_dir}", "--task=classification", f"--train_data={data['train']}",
          f"--init_checkpoint={pretrained}", "--freeze=backbone", "--train_steps=20",
          "--noexport", *NANO)
    assert "(130 trainable)" in capsys.readouterr().out  # 64x2 kernel + 2 bias
    after_backbone, after_head = _backbone_and_head(model_dir)
    from zoo.train.initialization import _source_backbone
    before = [v.numpy() for v in _source_backbone(pretrained, "encoder").weights]
    for old, new in zip(before, after_backbone):
        np.testing.assert_array_equal(old, new)
    assert np.abs(after_head[0]).sum() > 0


def test_unknown_label_in_eval_data_names_file_and_line(tmp_path, data):
    bad = tmp_path / "dev.tsv"
    bad.write_text("sentence\tlabel\na good film \tpos\nan odd film \tmaybe\n")
    with pytest.raises(DataError, match=rf"^{bad}:3: label 'maybe' is not one of the 2 "
                                        r"classes \(neg, pos\)$"):
        train(f"--model_dir={tmp_path}/c", "--task=classification",
              f"--train_data={data['train']}", f"--eval_data={bad}", *NANO)


def test_integer_label_out_of_range(tmp_path, data):
    rows = tmp_path / "train.tsv"
    rows.write_text("sentence\tlabel\na good film \t1\na bad film \t0\nwhat \t2\n")
    with pytest.raises(DataError, match=rf"^{rows}:4: label '2' is not one of the 2 classes"):
        train(f"--model_dir={tmp_path}/d", "--task=classification", f"--train_data={rows}",
              "--task_config=labels=0|1", *NANO)


def test_non_numeric_regression_target(tmp_path):
    rows = tmp_path / "train.tsv"
    rows.write_text("sentence\tlabel\na good film \t0.5\na bad film \thigh\n")
    with pytest.raises(DataError, match=rf"^{rows}:3: regression target 'high' is not a number$"):
        train(f"--model_dir={tmp_path}/e", "--task=regression", f"--train_data={rows}", *NANO)


def test_regression_learns_a_score(tmp_path):
    rng = random.Random(2)
    lines = ["sentence\tlabel"]
    for _ in range(600):
        good = rng.randint(0, 3)
        words = [rng.choice(POSITIVE) for _ in range(good)] + rng.sample(FILLER, 4)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{good * 0.5}")
    (tmp_path / "train.tsv").write_text("\n".join(lines[:501]) + "\n")
    (tmp_path / "dev.tsv").write_text("\n".join([lines[0]] + lines[501:]) + "\n")
    logs = train(f"--model_dir={tmp_path}/r", "--task=regression",
                 f"--train_data={tmp_path}/train.tsv", f"--eval_data={tmp_path}/dev.tsv",
                 "--train_steps=100", *NANO)
    assert logs["eval"]["pearson"] > 0.7 and logs["eval"]["spearman"] > 0.7
    loaded = tf.saved_model.load(f"{tmp_path}/r/export/1")
    scores = loaded.signatures["serving_default"](
        text=tf.constant(["the film", "great superb lovely film"]))["score"].numpy()
    assert scores[1] > scores[0]


def test_init_from_a_keras_hub_preset_directory(pretrained, tmp_path, data, capsys):
    import keras_hub
    from zoo.data.tokenizers.wordpiece import read_vocab
    vocab = read_vocab(os.path.join(pretrained, "vocab.txt"))
    preset = str(tmp_path / "preset")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab), num_layers=2, num_heads=2, hidden_dim=64,
        intermediate_dim=128, max_sequence_length=128)
    backbone.save_to_preset(preset)
    keras_hub.models.BertTokenizer(vocabulary=vocab).save_to_preset(preset)
    model_dir = f"{tmp_path}/from_preset"
    train(f"--model_dir={model_dir}", "--task=classification", f"--train_data={data['train']}",
          f"--init_checkpoint={preset}", "--freeze=backbone", "--train_steps=2", "--noexport",
          *NANO)
    out = capsys.readouterr().out
    assert f"vocab: {preset}/assets/tokenizer/vocabulary.txt (from --init_checkpoint)" in out
    assert f"init from {preset}: restored 39 variables" in out
    after, _ = _backbone_and_head(model_dir)
    for old, new in zip([v.numpy() for v in backbone.weights], after):
        np.testing.assert_array_equal(old, new)


def test_layer_lr_decay_scales_each_layers_first_adam_step(classifier):
    """Adam's first step moves every weight by about lr (times its factor), so the
    step sizes show the factors: head 1, top layer d, ..., layer 0 d**L, embeddings d**(L+1)."""
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.train.layer_lr import layer_lr_factors
    from zoo.train.optimizer import create_optimizer
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(classifier[0]), classifier[0])
    optimizer = create_optimizer(1e-3, 10, 0, "constant", weight_decay=0.0, clip_norm=0)
    variables = run.model.trainable_variables
    optimizer.build(variables)
    optimizer.scale_learning_rates(layer_lr_factors(run.model, run.backbone, 0.5))
    before = [v.numpy() for v in variables]
    optimizer.apply_gradients(zip([tf.ones_like(v) for v in variables], variables))
    steps = {v.path: float(np.mean(old - v.numpy())) for v, old in zip(variables, before)}
    depth = len(run.backbone.transformer_layers)
    head = [s for p, s in steps.items() if p.startswith("head/")]
    top = [s for p, s in steps.items() if f"transformer_layer_{depth - 1}/" in p]
    bottom = [s for p, s in steps.items() if "transformer_layer_0/" in p]
    embeddings = [s for p, s in steps.items() if "token_embedding" in p]
    assert head and top and bottom and embeddings
    for group, factor in ((head, 1.0), (top, 0.5), (bottom, 0.5 ** depth),
                          (embeddings, 0.5 ** (depth + 1))):
        np.testing.assert_allclose(group, 1e-3 * factor, rtol=1e-3)


def test_layer_lr_decay_out_of_range_or_on_t5_fails_before_work(tmp_path, data):
    from zoo.cli.common import UsageError
    with pytest.raises(UsageError, match=r"--layer_lr_decay must be in \(0, 1\], got 1\.5"):
        train(f"--model_dir={tmp_path}/a", "--task=classification",
              f"--train_data={data['train']}", "--layer_lr_decay=1.5", *NANO)
    with pytest.raises(UsageError, match="T5 has an encoder and a decoder stack"):
        train(f"--model_dir={tmp_path}/b", "--task=classification", "--model=t5_nano",
              f"--train_data={data['train']}", "--layer_lr_decay=0.8",
              *[a for a in NANO if not a.startswith("--model=")])
    assert not os.path.exists(f"{tmp_path}/a") and not os.path.exists(f"{tmp_path}/b")


def test_mean_pooling_averages_the_unpadded_token_vectors():
    from tasks.pooled_head import pooled_vector
    sequence = tf.constant([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    outputs = {"sequence_output": sequence, "pooled_output": tf.constant([[7.0, 7.0]])}
    mask = tf.constant([[True, True, False]])
    np.testing.assert_allclose(pooled_vector(outputs, mask, "mean"), [[2.0, 3.0]])
    np.testing.assert_allclose(pooled_vector(outputs, mask, "auto"), [[7.0, 7.0]])


def test_mean_pooled_classifier_learns(pretrained, tmp_path, data):
    logs = train(f"--model_dir={tmp_path}/mean", "--task=classification",
                 f"--train_data={data['train']}", f"--eval_data={data['dev']}",
                 f"--init_checkpoint={pretrained}", "--train_steps=120", "--noexport",
                 "--task_config=pooling=mean", *NANO)
    assert logs["eval"]["accuracy"] > 0.9


def test_unknown_pooling_fails_before_work(tmp_path, data):
    from plugins import OverrideError
    with pytest.raises(OverrideError, match="pooling must be one of auto, mean, cls, max, got 'sum'"):
        train(f"--model_dir={tmp_path}/m", "--task=classification",
              f"--train_data={data['train']}", "--task_config=pooling=sum", *NANO)
    assert not os.path.exists(f"{tmp_path}/m")
