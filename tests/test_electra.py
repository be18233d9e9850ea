"""ELECTRA: replacements, discriminator labels and loss terms against numpy;
pretraining, export of replaced-token detection, and fine-tuning from the
discriminator."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from flagrun import train
from tasks.electra import Electra, ElectraConfig, replace_tokens, sample_replacements
from test_finetune import NANO, write_sentiment


def test_sampling_is_the_inverse_cdf_of_the_noise():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 7)).astype(np.float32)
    noise = rng.uniform(size=(3, 4)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = (np.cumsum(probabilities, -1) < noise[..., None]).sum(-1)
    np.testing.assert_array_equal(sample_replacements(logits, noise).numpy(), expected)
    peaked = np.full((1, 1, 7), -30.0, np.float32)
    peaked[0, 0, 5] = 30.0
    assert sample_replacements(peaked, np.array([[0.999]], np.float32)).numpy()[0, 0] == 5


def test_discriminator_labels_mark_exactly_the_replaced_tokens():
    original = np.array([[2, 10, 11, 12, 13, 3], [2, 20, 21, 22, 3, 0]], np.int32)
    positions = np.array([[1, 3, 0], [2, 3, 0]], np.int32)
    weights = np.array([[1, 1, 0], [1, 1, 0]], np.float32)  # last slot unused
    originals = np.take_along_axis(original, positions, 1)
    sampled = np.array([[40, 12, 99], [21, 50, 99]], np.int32)  # 12 and 21: drawn back
    corrupted, replaced = replace_tokens(original, positions, weights, originals, sampled)
    expected = original.copy()
    expected[0, 1], expected[1, 3] = 40, 50
    np.testing.assert_array_equal(corrupted.numpy(), expected)
    np.testing.assert_array_equal(replaced.numpy(), (expected != original).astype(np.float32))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"train": write_sentiment(root / "train.tsv", 800, 0),
            "dev": write_sentiment(root / "dev.tsv", 120, 1)}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data):
    model_dir = str(tmp_path_factory.mktemp("electra"))
    train(f"--model_dir={model_dir}", "--task=electra", f"--train_data={data['train']}",
          "--train_steps=60", *NANO)
    return model_dir


def test_loss_terms_equal_a_numpy_reference(pretrained):
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    run = assemble(load_run_config(pretrained), pretrained)
    rows = tf.constant(np.stack(list(run.task.example_stream(tf.data.Dataset.from_tensor_slices(
        {"text": ["good film with a story and music"] * 40})).take(4).as_numpy_iterator())))
    features, labels, weights = run.task.preprocess(rows, seed=tf.constant([3, 4], tf.int64))
    outputs = run.model(features, training=False)
    terms = run.task.loss(labels, outputs, weights)

    generator = outputs["generator"].numpy().astype(np.float64)
    log_softmax = generator - np.log(np.exp(generator).sum(-1, keepdims=True))
    w = weights.numpy()
    nll = -np.take_along_axis(log_softmax, labels.numpy()[..., None], -1)[..., 0]
    np.testing.assert_allclose(terms["generator"][0].numpy() / terms["generator"][1].numpy(),
                               (nll * w).sum() / w.sum(), rtol=1e-4)
    logits = outputs["discriminator"].numpy().astype(np.float64)
    target = outputs["replaced"].numpy()
    bce = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(
        terms["discriminator"][0].numpy() / terms["discriminator"][1].numpy(),
        50.0 * bce.mean(), rtol=1e-4)
    # The replaced tokens are among the masked ones, and the text elsewhere is intact.
    replaced = target > 0
    masked = np.zeros_like(replaced)
    np.put_along_axis(masked, features["mask_positions"].numpy(), w > 0, 1)
    assert replaced.any() and not (replaced & ~masked).any()


def test_pretraining_learns_and_exports_replaced_token_detection(pretrained):
    with open(os.path.join(pretrained, "train_log.jsonl")) as handle:
        log = [json.loads(line) for line in handle]
    assert log[-1]["discriminator"] < log[0]["discriminator"]
    assert log[-1]["rtd_accuracy"] > 0.8  # most tokens are original: chance is the majority
    loaded = tf.saved_model.load(os.path.join(pretrained, "export", "1"))
    out = loaded.signatures["serving_default"](text=tf.constant(["a good film", "dull"]))
    probability = out["replaced_probability"].numpy()
    assert probability.shape[0] == 2 and ((probability >= 0) & (probability <= 1)).all()


def test_fine_tuning_starts_from_the_discriminator(pretrained, tmp_path, data, capsys):
    logs = train(f"--model_dir={tmp_path}/cls", "--task=classification",
                 f"--train_data={data['train']}", f"--eval_data={data['dev']}",
                 f"--init_checkpoint={pretrained}", "--train_steps=60", "--noexport", *NANO)
    out = capsys.readouterr().out
    assert f"init from {pretrained}" in out and "unmatched 0" in out
    assert logs["eval"]["accuracy"] > 0.8


def test_electra_config_defaults_follow_the_paper():
    config = ElectraConfig()
    assert (config.mask_rate, config.mask_token_rate, config.discriminator_weight) == \
        (0.15, 1.0, 50.0)
    assert not Electra.can_bucket(config)
