"""The MLM head's transform takes the backbone's feed-forward activation, as
BERT's prediction head takes `hidden_act`: ReLU under a ReLU encoder, exact
GELU under keras-hub's BertBackbone (which records no activation)."""
import dataclasses

import keras
import numpy as np
import pytest

from plugins import MODELS, apply_overrides, load_plugins
from tasks.mlm import masked_lm_logits


def head_transform(overrides):
    """The head's intermediate Dense, built on a bert_nano with `overrides`."""
    load_plugins()
    spec = MODELS.get("bert_nano")
    backbone = spec.builder(apply_overrides(
        dataclasses.replace(spec.config, vocabulary_size=100), overrides))
    sequence = keras.Input((None, 64))
    positions = keras.Input((None,), dtype="int32")
    model = keras.Model([sequence, positions], masked_lm_logits(backbone, sequence, positions))
    return model.get_layer("mlm_head")._intermediate_dense


@pytest.mark.parametrize("overrides, expected", [
    ("activation=relu", lambda x: np.maximum(x, 0)),
    ("", lambda x: np.asarray(keras.activations.gelu(x, approximate=False))),
    ("normalize_first=true,activation=gelu_approximate",
     lambda x: np.asarray(keras.activations.gelu(x, approximate=True))),
])
def test_the_head_takes_the_encoders_activation(overrides, expected):
    dense = head_transform(overrides)
    x = np.linspace(-3, 3, 64, dtype="float32")[None, :]
    pre_activation = x @ np.asarray(dense.kernel) + np.asarray(dense.bias)
    np.testing.assert_allclose(dense(x), expected(pre_activation), rtol=1e-5, atol=1e-5)
