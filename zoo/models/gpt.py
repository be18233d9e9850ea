"""GPT decoders built from keras-hub's `GPT2Backbone` (causal self-attention,
learned positions, pre-layer-norm); the LM head is tied to the token embedding
and decoding uses keras-hub's KV cache (`GPT2CausalLM`).

Example:
    >>> spec = MODELS.get("gpt_nano")
    >>> backbone = spec.builder(dataclasses.replace(spec.config, vocabulary_size=300))
    >>> causal_lm(backbone)({"token_ids": ids, "padding_mask": mask})   # [batch, len, 300]
"""
import dataclasses

import keras_hub

from plugins import MODELS, ModelSpec
from plugins.task import DECODER
from zoo.models.presets import GPT_SIZES


def build_gpt(config):
    """Returns a keras_hub GPT2Backbone for a `GptConfig` with its vocab size set."""
    if config.vocabulary_size <= 0:
        raise ValueError("GptConfig.vocabulary_size must be set from the tokenizer")
    return keras_hub.models.GPT2Backbone(**dataclasses.asdict(config))


def causal_lm(backbone):
    """The backbone with its tied LM head, as keras-hub's cached-decoding model."""
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)


def parameter_count(config, vocabulary_size=50257):
    hidden, inner = config.hidden_dim, config.intermediate_dim
    layer = 4 * hidden * hidden + 4 * hidden + 2 * hidden * inner + inner + hidden + 4 * hidden
    return (vocabulary_size + config.max_sequence_length) * hidden + \
        config.num_layers * layer + 2 * hidden


for _name, _config in GPT_SIZES.items():
    MODELS.register(_name, ModelSpec(
        name=_name, family=DECODER, builder=build_gpt, config=_config,
        description=f"GPT L{_config.num_layers}/H{_config.hidden_dim}/A{_config.num_heads}, "
                    f"context {_config.max_sequence_length}, "
                    f"{parameter_count(_config) / 1e6:.1f}M params at a 50,257-token vocab"))
