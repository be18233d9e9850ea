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


#: BertConfig fields keras-hub's BertBackbone does not take, with the values it builds
#: as they are; any other value builds a ZooBertBackbone.
BERT_BACKBONE_BUILDS = {"normalize_first": (False,), "activation": ("", "gelu_approximate"),
                        "initializer": ("bert",), "layer_norm_epsilon": (1e-12,)}


def build_bert(config):
    """Returns a keras_hub BertBackbone for a `BertConfig` with its vocab size set,
    or a `ZooBertBackbone` for pre-LN blocks, an activation, an initializer or a
    layer-norm epsilon BertBackbone lacks."""
    if config.vocabulary_size <= 0:
        raise ValueError("BertConfig.vocabulary_size must be set from the tokenizer")
    fields = dataclasses.asdict(config)
    if any(fields[name] not in values for name, values in BERT_BACKBONE_BUILDS.items()):
        default = "gelu" if fields["normalize_first"] else "gelu_approximate"  # (as documented)
        return ZooBertBackbone(**dict(fields, activation=fields["activation"] or default))
    return keras_hub.models.BertBackbone(
        **{name: value for name, value in fields.items() if name not in BERT_BACKBONE_BUILDS})


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
