"""BERT encoders built from keras-hub's `BertBackbone` (post-LN, as published),
or with pre-LN blocks (`normalize_first=True`, `zoo.models.bert_backbone`).

Example:
    >>> from plugins import MODELS
    >>> spec = MODELS.get("bert_tiny")
    >>> backbone = spec.builder(dataclasses.replace(spec.config, vocabulary_size=1000))
    >>> sorted(backbone.output)
    ['pooled_output', 'sequence_output']
"""
import dataclasses

import keras_hub

from plugins import MODELS, ModelSpec
from plugins.task import ENCODER
from zoo.models.bert_backbone import ZooBertBackbone
from zoo.models.presets import BERT_SIZES


def build_bert(config):
    """Returns a keras_hub BertBackbone for a `BertConfig` with its vocab size set,
    or a `ZooBertBackbone` for pre-LN blocks, an activation, an initializer or a
    layer-norm epsilon BertBackbone lacks."""
    if config.vocabulary_size <= 0:
        raise ValueError("BertConfig.vocabulary_size must be set from the tokenizer")
    fields = dataclasses.asdict(config)
    activation = fields.pop("activation")
    if fields["normalize_first"] or activation not in ("", "gelu_approximate") or \
            fields["initializer"] != "bert" or fields["layer_norm_epsilon"] != 1e-12:
        default = "gelu" if fields["normalize_first"] else "gelu_approximate"  # (as documented)
        return ZooBertBackbone(**fields, activation=activation or default)
    del fields["normalize_first"], fields["initializer"], fields["layer_norm_epsilon"]
    return keras_hub.models.BertBackbone(**fields)


def parameter_count(config, vocabulary_size=30522):
    """Parameters of a BertBackbone (for listings, without building it)."""
    hidden, inner = config.hidden_dim, config.intermediate_dim
    embeddings = (vocabulary_size + config.max_sequence_length + config.num_segments + 2) * hidden
    layer = 4 * (hidden * hidden + hidden) + (hidden * inner + inner) + \
        (inner * hidden + hidden) + 4 * hidden
    return embeddings + config.num_layers * layer + hidden * hidden + hidden


for _name, _config in BERT_SIZES.items():
    MODELS.register(_name, ModelSpec(
        name=_name, family=ENCODER, builder=build_bert, config=_config,
        description=f"BERT L{_config.num_layers}/H{_config.hidden_dim}/A{_config.num_heads}, "
                    f"{parameter_count(_config) / 1e6:.1f}M params at a 30,522-token vocab"))
