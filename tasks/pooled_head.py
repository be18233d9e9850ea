"""Shared base of tasks that put a head on one pooled vector per example.

Single texts or text pairs (`pair=True` reads a `text_b` field) are packed as
`[CLS] a [SEP] (b [SEP])`; with `pooling=auto` the head reads the backbone's
pooled output (the [CLS] vector for BERT) or, when a backbone has none, the
mean of its sequence output over non-padding tokens (GPT; the encoder of T5);
`pooling=mean` takes that mean for every backbone.

Example (a subclass):
    class Scorer(PooledHeadTask):
        def head_units(self): return 1
"""
import dataclasses

import keras
import tensorflow as tf

from plugins import OverrideError, TaskPlugin
from zoo.data.formats.readers import DataError

POOLINGS = ("auto", "mean", "cls", "max")


@dataclasses.dataclass(frozen=True)
class PooledHeadConfig:
    """Options shared by pooled-head tasks; a bad `pooling` fails when the flags are read."""
    dropout: float = 0.1  # on the pooled vector, before the head
    #: auto: the init checkpoint's 1_Pooling/config.json (sentence-transformers) if
    #: any, else the backbone's pooled output if any, else mean; mean, cls or max.
    pooling: str = "auto"

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise OverrideError(f"pooling must be one of {', '.join(POOLINGS)}, "
                                f"got '{self.pooling}'")


def check_texts_not_empty(path, line, row):
    """Rejects a row whose `text` or `text_b` is empty or only spaces (it would
    train on `[CLS] [SEP]` alone)."""
    for field in ("text", "text_b"):
        if field in row and not row[field].strip():
            raise DataError(f"{path}:{line}: field '{field}' is empty (a zero-length example)")


def pooled_vector(backbone_outputs, padding_mask, pooling="auto"):
    """The backbone's pooled output (`pooling="auto"` and the backbone has one),
    else over the sequence output's non-padding tokens: their mean (`mean`,
    `auto`), the first token's vector (`cls`) or the feature-wise maximum (`max`),
    as sentence-transformers pools."""
    if pooling == "auto" and isinstance(backbone_outputs, dict) and \
            "pooled_output" in backbone_outputs:
        return backbone_outputs["pooled_output"]
    sequence = backbone_outputs["sequence_output"] if isinstance(backbone_outputs, dict) \
        else backbone_outputs
    if pooling == "cls":
        return sequence[:, 0, :]
    mask = keras.ops.expand_dims(keras.ops.cast(padding_mask, sequence.dtype), -1)
    if pooling == "max":
        return keras.ops.max(keras.ops.where(mask > 0, sequence, -1e9), axis=1)
    return keras.ops.sum(sequence * mask, axis=1) / keras.ops.maximum(
        keras.ops.sum(mask, axis=1), 1.0)


def backbone_input_names(backbone):
    """BERT reads segment ids; GPT and T5 (its encoder) token ids and mask only."""
    names = ("token_ids", "padding_mask")
    return names + ("segment_ids",) if "segment_ids" in backbone.input else names


def backbone_outputs(backbone, inputs):
    """The sequence output (and BERT's pooled output) of any zoo backbone; for
    an encoder-decoder, of its encoder alone."""
    if "encoder_token_ids" in backbone.input:
        from zoo.models.encoder_decoder import encoder_output
        return encoder_output(backbone, inputs["token_ids"], inputs["padding_mask"])
    return backbone({name: inputs[name] for name in backbone_input_names(backbone)})


class PooledHeadTask(TaskPlugin):
    """Subclasses give `head_units()`, `targets(examples)`, loss, metrics, serving outputs."""
    min_seq_len = 3  # [CLS] a [SEP]

    @classmethod
    def min_seq_len_for(cls, config):
        return 5 if getattr(config, "pair", False) else cls.min_seq_len  # [CLS] a [SEP] b [SEP]

    @classmethod
    def fields_for(cls, config):
        return ("text", "text_b", "label") if getattr(config, "pair", False) else ("text", "label")

    @property
    def data_fields(self):  # noqa: D401 - instance view of the configured fields
        return self.fields_for(self.config)

    def head_units(self):
        raise NotImplementedError

    def targets(self, examples):
        """(labels, weights) tensors from a batch of raw examples."""
        raise NotImplementedError

    def encode(self, examples):
        pair = examples.get("text_b") if self.config.pair else None
        token_ids, segment_ids, padding_mask = self.encoder.encode(examples["text"], pair)
        features = {"token_ids": token_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask}
        return {k: v for k, v in features.items()
                if k in getattr(self, "input_names", features)}

    def preprocess(self, examples, seed=None):
        labels, weights = self.targets(examples)
        return self.encode(examples), labels, weights

    def build_model(self, backbone):
        names = backbone_input_names(backbone)
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in names}
        self.input_names = names
        pooled = pooled_vector(backbone_outputs(backbone, inputs), inputs["padding_mask"],
                               getattr(self.config, "pooling", "auto"))
        pooled = keras.layers.Dropout(self.config.dropout, name="head_dropout")(pooled)
        outputs = keras.layers.Dense(self.head_units(), name="head")(pooled)
        return keras.Model(inputs, outputs, name=f"{self.name}_model")

    def serving_inputs(self):
        specs = [tf.TensorSpec([None], tf.string, name="text")]
        if self.config.pair:
            specs.append(tf.TensorSpec([None], tf.string, name="text_b"))
        return specs

    def serving_function(self, model, outputs_fn):
        """A tf.function over raw strings: encode, run `model`, then `outputs_fn(logits)`."""
        def run(text, text_b=None):
            examples = {"text": text} if text_b is None else {"text": text, "text_b": text_b}
            logits = tf.cast(model(self.encode(examples), training=False), tf.float32)
            return outputs_fn(logits)
        if self.config.pair:
            return tf.function(lambda text, text_b: run(text, text_b),
                               input_signature=self.serving_inputs())
        return tf.function(lambda text: run(text), input_signature=self.serving_inputs())

    def warmup_inputs(self):
        inputs = {"text": ["a gripping film"]}
        if self.config.pair:
            inputs["text_b"] = ["a dull film"]
        return inputs
