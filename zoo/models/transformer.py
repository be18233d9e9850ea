"""Transformer encoder-decoders (Vaswani et al. 2017) built from keras-hub's
`TransformerEncoder` and `TransformerDecoder` layers, as its `BartBackbone`
assembles them: post-layer-norm blocks, learned positions, a layer norm on the
embeddings, and one embedding matrix shared by source, target and the output
projection. Decoding uses keras-hub's cached `BartSeq2SeqLM`.

These train from scratch with AdamW at the usual 5e-4..1e-3 with warmup, unlike
T5, whose Mesh-TF initialisation (N(0, 1) embeddings, unscaled attention)
was made for Adafactor's parameter-relative updates.

Example:
    >>> spec = MODELS.get("transformer_nano")
    >>> backbone = spec.builder(dataclasses.replace(spec.config, vocabulary_size=400))
    >>> seq2seq_lm(backbone)(features)   # decoder logits [batch, target len, 400]
"""
import dataclasses

import keras_hub

from plugins import MODELS, ModelSpec
from plugins.task import ENCODER_DECODER
from zoo.models.presets import TRANSFORMER_SIZES


def build_transformer(config):
    """Returns a keras_hub BartBackbone for a `TransformerConfig` with its vocab size set."""
    if config.vocabulary_size <= 0:
        raise ValueError("TransformerConfig.vocabulary_size must be set from the tokenizer")
    return keras_hub.models.BartBackbone(**dataclasses.asdict(config))


def encoder_output(backbone, token_ids, padding_mask):
    """The encoder stack alone: [batch, len, hidden]."""
    tokens = backbone.token_embedding(token_ids)
    x = backbone.encoder_embeddings_add((tokens, backbone.encoder_position_embedding(tokens)))
    x = backbone.encoder_embeddings_dropout(backbone.encoder_embeddings_layer_norm(x))
    for layer in backbone.encoder_transformer_layers:
        x = layer(x, padding_mask=padding_mask)
    return x


def seq2seq_lm(backbone):
    """The backbone with its tied LM head, as keras-hub's cached-decoding model."""
    return keras_hub.models.BartSeq2SeqLM(backbone=backbone, preprocessor=None)


def parameter_count(config, vocabulary_size=8000):
    hidden, inner = config.hidden_dim, config.intermediate_dim
    attention = 4 * hidden * hidden + 4 * hidden
    feed_forward = 2 * hidden * inner + inner + hidden
    encoder = config.num_layers * (attention + feed_forward + 4 * hidden)
    decoder = config.num_layers * (2 * attention + feed_forward + 6 * hidden)
    return (vocabulary_size + 2 * config.max_sequence_length) * hidden + encoder + decoder


for _name, _config in TRANSFORMER_SIZES.items():
    MODELS.register(_name, ModelSpec(
        name=_name, family=ENCODER_DECODER, builder=build_transformer, config=_config,
        description=f"Transformer L{_config.num_layers}+{_config.num_layers}/"
                    f"H{_config.hidden_dim}/A{_config.num_heads}, "
                    f"{parameter_count(_config) / 1e6:.1f}M params at an 8,000-token vocab"))
