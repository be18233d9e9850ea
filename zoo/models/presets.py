"""Named sizes of each family, following the published configurations.

BERT sizes are those of Turc et al. 2019 ("Well-Read Students Learn Better")
and Devlin et al. 2019; `nano` sizes exist for tests.

Example:
    >>> BERT_SIZES["bert_mini"].hidden_dim
    256
"""
import dataclasses


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
    vocabulary_size: int = 0  # 0: taken from the tokenizer at build time


BERT_SIZES = {
    "bert_nano": BertConfig(2, 64, 2, 128, max_sequence_length=128),
    "bert_tiny": BertConfig(2, 128, 2, 512),
    "bert_mini": BertConfig(4, 256, 4, 1024),
    "bert_small": BertConfig(4, 512, 8, 2048),
    "bert_medium": BertConfig(8, 512, 8, 2048),
    "bert_base": BertConfig(12, 768, 12, 3072),
    "bert_large": BertConfig(24, 1024, 16, 4096),
}
