"""Named sizes of each family, following the published configurations.

BERT sizes are those of Turc et al. 2019 ("Well-Read Students Learn Better")
and Devlin et al. 2019; `nano` sizes exist for tests.

Example:
    >>> BERT_SIZES["bert_mini"].hidden_dim
    256
"""
import dataclasses

from plugins.overrides import OverrideError

#: BertConfig.activation's values.
BERT_ACTIVATIONS = ("", "gelu", "gelu_approximate", "relu")
#: BertConfig.initializer's values.
BERT_INITIALIZERS = ("bert", "keras")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Configuration of a BERT encoder (keras_hub.models.BertBackbone)."""
    num_layers: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    dropout: float = 0.1
    max_sequence_length: int = 512
    num_segments: int = 2
    normalize_first: bool = False  # True: pre-LN blocks (zoo.models.bert_backbone)
    #: Feed-forward activation: "gelu" (exact, as Hugging Face's BERT checkpoints),
    #: "gelu_approximate" (tanh, Google's BERT), "relu"; "": the block's default
    #: (tanh GELU post-LN, keras-hub's BertBackbone; exact GELU pre-LN).
    activation: str = ""
    #: Initial weights: "bert" (truncated normal, std 0.02, as Devlin et al.);
    #: "keras" (the Keras layers' defaults: Glorot-uniform kernels, uniform
    #: +-0.05 embeddings, as keras-hub's TransformerEncoder and TokenAndPositionEmbedding).
    initializer: str = "bert"
    #: Every layer norm's epsilon (BERT's 1e-12; keras-hub's TransformerEncoder
    #: defaults to 1e-5).
    layer_norm_epsilon: float = 1e-12
    vocabulary_size: int = 0  # 0: taken from the tokenizer at build time

    def __post_init__(self):
        for name, allowed in (("activation", BERT_ACTIVATIONS),
                              ("initializer", BERT_INITIALIZERS)):
            if getattr(self, name) not in allowed:
                raise OverrideError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                                    f"got {getattr(self, name)!r}")
        if not 0 < self.layer_norm_epsilon < 1:
            raise OverrideError(f"layer_norm_epsilon must be in (0, 1), got "
                                f"{self.layer_norm_epsilon!r}")


BERT_SIZES = {
    "bert_nano": BertConfig(2, 64, 2, 128, max_sequence_length=128),
    "bert_tiny": BertConfig(2, 128, 2, 512),
    "bert_mini": BertConfig(4, 256, 4, 1024),
    "bert_small": BertConfig(4, 512, 8, 2048),
    "bert_medium": BertConfig(8, 512, 8, 2048),
    "bert_base": BertConfig(12, 768, 12, 3072),
    "bert_large": BertConfig(24, 1024, 16, 4096),
}


@dataclasses.dataclass(frozen=True)
class GptConfig:
    """Configuration of a GPT decoder (keras_hub.models.GPT2Backbone)."""
    num_layers: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    dropout: float = 0.1
    max_sequence_length: int = 1024
    vocabulary_size: int = 0  # 0: taken from the tokenizer at build time


#: GPT-2 small and medium as published (Radford et al. 2019); nano/mini for tests
#: and CPU runs.
GPT_SIZES = {
    "gpt_nano": GptConfig(2, 64, 2, 256, max_sequence_length=256),
    "gpt_mini": GptConfig(4, 256, 4, 1024, max_sequence_length=512),
    "gpt2_small": GptConfig(12, 768, 12, 3072),
    "gpt2_medium": GptConfig(24, 1024, 16, 4096),
}


@dataclasses.dataclass(frozen=True)
class T5Config:
    """Configuration of a T5 encoder-decoder (keras_hub.models.T5Backbone);
    `num_layers` each in the encoder and the decoder."""
    num_layers: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    key_value_dim: int = 0  # 0: hidden_dim // num_heads
    dropout: float = 0.1
    activation: str = "relu"
    use_gated_activation: bool = False
    tie_embedding_weights: bool = True
    vocabulary_size: int = 0  # 0: taken from the tokenizer at build time


#: T5 small and base as published (Raffel et al. 2020, v1.0); nano/mini for
#: tests and CPU runs.
T5_SIZES = {
    "t5_nano": T5Config(2, 64, 2, 128),
    "t5_mini": T5Config(4, 256, 4, 1024),
    "t5_small": T5Config(6, 512, 8, 2048, key_value_dim=64),
    "t5_base": T5Config(12, 768, 12, 3072, key_value_dim=64),
}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Configuration of a Transformer encoder-decoder (Vaswani et al. 2017) with
    learned positions and one vocabulary shared by source, target and output
    (keras_hub.models.BartBackbone); `num_layers` each in the encoder and the
    decoder."""
    num_layers: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    dropout: float = 0.1
    max_sequence_length: int = 256
    vocabulary_size: int = 0  # 0: taken from the tokenizer at build time


#: `transformer_base` is the published base size; `transformer_small` the
#: 3+3-layer, 256-wide size common for Multi30k and IWSLT on one device.
TRANSFORMER_SIZES = {
    "transformer_nano": TransformerConfig(2, 64, 2, 128),
    "transformer_small": TransformerConfig(3, 256, 4, 1024),
    "transformer_base": TransformerConfig(6, 512, 8, 2048),
}
