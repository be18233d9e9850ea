"""What the tasks need of any encoder-decoder backbone (T5 or Transformer): the
cached-decoding LM around it, and its encoder stack alone.

Example:
    >>> lm = seq2seq_lm(backbone)        # T5LM or BartSeq2SeqLM, by backbone type
    >>> encoder_output(backbone, token_ids, padding_mask)   # [batch, len, hidden]
"""
import keras_hub

from zoo.models import t5, transformer


def _family_module(backbone):
    if isinstance(backbone, keras_hub.models.T5Backbone):
        return t5
    if isinstance(backbone, keras_hub.models.BartBackbone):
        return transformer
    raise TypeError(f"no encoder-decoder support for {type(backbone).__name__}")


def seq2seq_lm(backbone):
    return _family_module(backbone).seq2seq_lm(backbone)


def encoder_output(backbone, token_ids, padding_mask):
    return _family_module(backbone).encoder_output(backbone, token_ids, padding_mask)
