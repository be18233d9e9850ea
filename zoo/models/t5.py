"""T5 encoder-decoders built from keras-hub's `T5Backbone` (relative position
bias, RMS layer norm); the LM head is the tied token embedding and decoding
uses keras-hub's cached `T5Seq2SeqLM`.

Example:
    >>> spec = MODELS.get("t5_nano")
    >>> backbone = spec.builder(dataclasses.replace(spec.config, vocabulary_size=400))
    >>> seq2seq_lm(backbone)(features)   # decoder logits [batch, target len, 400]
"""
import dataclasses

import keras
import keras_hub
import tensorflow as tf

from plugins import MODELS, ModelSpec
from plugins.task import ENCODER_DECODER
from zoo.models.presets import T5_SIZES


def build_t5(config):
    """Returns a keras_hub T5Backbone for a `T5Config` with its vocab size set."""
    if config.vocabulary_size <= 0:
        raise ValueError("T5Config.vocabulary_size must be set from the tokenizer")
    fields = dataclasses.asdict(config)
    fields["key_value_dim"] = config.key_value_dim or None
    backbone = keras_hub.models.T5Backbone(**fields)
    # keras-hub 0.32 initialises the token embedding with TruncatedNormal(1.0),
    # i.e. mean 1.0 and stddev 0.05: every token starts as nearly the same
    # vector and the encoder output barely depends on the input. Presets
    # overwrite it; for training from scratch use T5's N(0, 1).
    embeddings = backbone.token_embedding.embeddings
    embeddings.assign(keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0)(
        embeddings.shape, embeddings.dtype))
    return backbone


class T5LM(keras_hub.models.T5Seq2SeqLM):
    """keras-hub's T5Seq2SeqLM, keeping the static length of the decoder ids in
    its cached step (lost through the relative position bias), which the
    samplers' squeeze needs when the batch size is dynamic (serving, eval)."""

    def call_decoder_with_cache(self, encoder_hidden_states, encoder_padding_mask,
                                decoder_token_ids, *args, **kwargs):
        logits, hidden, *caches = super().call_decoder_with_cache(
            encoder_hidden_states, encoder_padding_mask, decoder_token_ids, *args, **kwargs)
        length = decoder_token_ids.shape[1]
        logits = tf.ensure_shape(logits, [None, length, logits.shape[-1]])
        hidden = tf.ensure_shape(hidden, [None, length, hidden.shape[-1]])
        return (logits, hidden, *caches)


def encoder_output(backbone, token_ids, padding_mask):
    """The encoder stack alone (as T5Seq2SeqLM.call_encoder): [batch, len, hidden],
    for heads that need no decoder (classification, regression)."""
    x = backbone.encoder_embedding_dropout(backbone.token_embedding(token_ids))
    position_bias = None
    for layer in backbone.encoder_transformer_layers:
        x, position_bias = layer(x, attention_mask=padding_mask[:, None, :],
                                 position_bias=position_bias, use_causal_mask=False)
    return backbone.encoder_dropout(backbone.encoder_layer_norm(x))


def seq2seq_lm(backbone):
    """The backbone with its LM head, as keras-hub's cached-decoding model."""
    return T5LM(backbone=backbone, preprocessor=None)


def parameter_count(config, vocabulary_size=32128):
    hidden, inner = config.hidden_dim, config.intermediate_dim
    inner_attention = (config.key_value_dim or hidden // config.num_heads) * config.num_heads
    attention = 4 * hidden * inner_attention
    feed_forward = (3 if config.use_gated_activation else 2) * hidden * inner
    encoder = config.num_layers * (attention + feed_forward + 2 * hidden)
    decoder = config.num_layers * (2 * attention + feed_forward + 3 * hidden)
    return vocabulary_size * hidden + encoder + decoder


for _name, _config in T5_SIZES.items():
    MODELS.register(_name, ModelSpec(
        name=_name, family=ENCODER_DECODER, builder=build_t5, config=_config,
        description=f"T5 L{_config.num_layers}+{_config.num_layers}/H{_config.hidden_dim}/"
                    f"A{_config.num_heads}, {parameter_count(_config) / 1e6:.1f}M params at a "
                    "32,128-token vocab"))
