"""T5's initialisation wants Adafactor: one AdamW step moves its N(0, 1)
embeddings tens (t5_nano) to hundreds (t5_mini) of times less, relative to
their size, than its query projections (std (d_model * d_kv)^-0.5); one
Adafactor step moves every weight by the same fraction."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from plugins import MODELS
from plugins.discovery import load_plugins
from zoo.models.encoder_decoder import seq2seq_lm
from zoo.train.optimizer import create_optimizer


def relative_steps(model_name, optimizer_name, learning_rate):
    """{variable path: RMS(first update) / RMS(weight)} for one step on random data."""
    load_plugins()
    keras.utils.set_random_seed(0)
    spec = MODELS.get(model_name)
    model = seq2seq_lm(spec.builder(dataclasses.replace(spec.config, vocabulary_size=300)))
    rng = np.random.default_rng(0)
    features = {"encoder_token_ids": rng.integers(4, 300, (8, 10)).astype("int32"),
                "encoder_padding_mask": np.ones((8, 10), "int32"),
                "decoder_token_ids": rng.integers(4, 300, (8, 9)).astype("int32"),
                "decoder_padding_mask": np.ones((8, 9), "int32")}
    labels = rng.integers(4, 300, (8, 9))
    optimizer = create_optimizer(learning_rate, 10, 0, "constant", weight_decay=0.0,
                                 clip_norm=0, name=optimizer_name)
    variables = model.trainable_variables
    optimizer.build(variables)
    before = [v.numpy().copy() for v in variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels, tf.cast(model(features), tf.float32)))
    optimizer.apply(tape.gradient(loss, variables), variables)
    return {v.path: float(np.sqrt(np.mean((v.numpy() - b) ** 2) / np.mean(b ** 2)))
            for v, b in zip(variables, before) if np.mean(b ** 2) > 0}


def spread(steps, *patterns):
    """Largest over smallest relative step among the named weight kinds."""
    chosen = [s for path, s in steps.items() if any(p in path for p in patterns)]
    return max(chosen) / min(chosen)


@pytest.mark.parametrize("optimizer_name, learning_rate", [("adamw", 1e-3),
                                                           ("adafactor", 1e-2)])
def test_t5_weights_move_evenly_only_under_adafactor(optimizer_name, learning_rate):
    steps = relative_steps("t5_nano", optimizer_name, learning_rate)
    kinds = ("token_embedding", "query_projector", "key_projector", "input_projector")
    if optimizer_name == "adamw":
        assert spread(steps, *kinds) > 20
    else:
        assert spread(steps, *kinds) < 1.5
        assert all(0.5 * learning_rate < s < 1.5 * learning_rate
                   for path, s in steps.items() if any(k in path for k in kinds))
