"""`initializer=keras` on a BERT size: the Keras layers' default initial weights
(as keras-hub's TransformerEncoder and TokenAndPositionEmbedding draw them) in
place of BERT's truncated normal, and runs saved before the field existed keep
BERT's; `layer_norm_epsilon` likewise."""
import dataclasses

import keras
import numpy as np
import pytest

from plugins import MODELS, apply_overrides, load_plugins
from plugins.overrides import OverrideError
from zoo.models.bert_backbone import ZooBertBackbone
from zoo.run_config import model_field


def build(overrides):
    load_plugins()
    spec = MODELS.get("bert_nano")
    config = apply_overrides(dataclasses.replace(spec.config, vocabulary_size=500), overrides)
    return spec.builder(config)


def largest(backbone, part):
    return max(float(np.abs(np.asarray(w)).max()) for w in backbone.weights
               if part in w.path and w.path.endswith(("kernel", "embeddings")))


def test_keras_initializer_draws_glorot_kernels_and_uniform_embeddings():
    bert, keras_init = build("dropout=0"), build("initializer=keras,dropout=0")
    assert isinstance(keras_init, ZooBertBackbone) and keras_init.initializer == "keras"
    assert keras_init.activation == "gelu_approximate"  # post-LN's default, as BertBackbone
    # BERT's truncated normal (std 0.02) stays within two standard deviations.
    for part in ("transformer_layer_0", "token_embedding"):
        assert largest(bert, part) <= 0.04
    # Glorot-uniform on the 64x128 feed-forward: limit sqrt(6 / 192) = 0.177.
    feed_forward = [np.asarray(w) for w in keras_init.weights
                    if "transformer_layer_0" in w.path and "feedforward_intermediate" in w.path
                    and w.path.endswith("kernel")][0]
    assert feed_forward.shape == (64, 128)
    assert 0.1 < np.abs(feed_forward).max() <= np.sqrt(6 / 192)
    # Keras's "uniform" embeddings: U(-0.05, 0.05), so the largest of 32,000 values is near 0.05.
    token = np.asarray(keras_init.token_embedding.embeddings)
    assert 0.045 < np.abs(token).max() <= 0.05
    # Only the initial values differ: with BERT's weights copied in, the same function.
    keras_init.set_weights(bert.get_weights())
    inputs = {"token_ids": np.array([[2, 7, 9, 3, 0]]), "segment_ids": np.zeros((1, 5), "int32"),
              "padding_mask": np.array([[1, 1, 1, 1, 0]])}
    np.testing.assert_allclose(keras_init(inputs)["sequence_output"],
                               bert(inputs)["sequence_output"], atol=1e-5)
    assert ZooBertBackbone.from_config(keras_init.get_config()).initializer == "keras"


def test_unknown_initializer_lists_the_choices():
    with pytest.raises(OverrideError, match="initializer must be one of 'bert', 'keras', got 'he'"):
        build("initializer=he")


def test_runs_saved_before_the_field_had_berts_initializer():
    assert model_field({"num_layers": 2}, "initializer") == "bert"


def test_layer_norm_epsilon_reaches_every_layer_norm():
    bert, other = build("dropout=0"), build("layer_norm_epsilon=1e-5,dropout=0")
    assert isinstance(other, ZooBertBackbone)
    norms = [layer for layer in other._flatten_layers()
             if isinstance(layer, keras.layers.LayerNormalization)]
    assert len(norms) == 1 + 2 * 2 and {layer.epsilon for layer in norms} == {1e-5}
    other.set_weights(bert.get_weights())  # the same weights: outputs within the epsilons' effect
    inputs = {"token_ids": np.array([[2, 7, 9, 3]]), "segment_ids": np.zeros((1, 4), "int32"),
              "padding_mask": np.ones((1, 4), "int32")}
    difference = np.abs(np.asarray(other(inputs)["sequence_output"]) -
                        np.asarray(bert(inputs)["sequence_output"])).max()
    assert 0 < difference < 0.05
    assert ZooBertBackbone.from_config(other.get_config()).layer_norm_epsilon == 1e-5
    assert model_field({"num_layers": 2}, "layer_norm_epsilon") == 1e-12
    with pytest.raises(OverrideError, match=r"layer_norm_epsilon must be in \(0, 1\), got 0.0"):
        build("layer_norm_epsilon=0")
