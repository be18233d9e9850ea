"""Translation (or any text-to-text mapping) with a T5 encoder-decoder.

Pairs come from .tsv/.jsonl with `source` and `target` columns, or from two
line-aligned text files (`--train_data=train.en,train.de`). Training uses
teacher forcing (optional label smoothing). Evaluation decodes the eval set
and reports corpus BLEU (sacrebleu, 13a tokenization) besides loss and token
accuracy; the export's `translate` signature maps source strings to target
strings.

Example:
    zoo-train --model=t5_mini --task=translation --model_dir=runs/ende \\
              --train_data=multi30k/train.en,multi30k/train.de \\
              --eval_data=multi30k/val.en,multi30k/val.de
    zoo-train --mode=eval --model_dir=runs/ende \\
              --eval_data=multi30k/test_2016_flickr.en,multi30k/test_2016_flickr.de
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS
from tasks.seq2seq import Seq2SeqTask
from zoo.evaluate.corpus_metrics import corpus_bleu
from zoo.serve.generation import DecodingConfig


@dataclasses.dataclass(frozen=True)
class TranslationConfig(DecodingConfig):
    label_smoothing: float = 0.0
    bleu: bool = True  # decode the eval set and report BLEU


@TASKS.register("translation")
class Translation(Seq2SeqTask):
    """Source -> target with teacher forcing; BLEU on decoded eval sets."""
    name = "translation"
    data_fields = ("source", "target")
    text_fields = ("source", "target")
    config_class = TranslationConfig
    signature_names = ("serving_default", "translate")
    min_seq_len = 2  # source: a token and [EOS]; target: [BOS] or [EOS] and a token

    @property
    def label_smoothing(self):
        return self.config.label_smoothing

    def preprocess(self, examples, seed=None):
        return self.teacher_forcing(self.source_ids(examples["source"]),
                                    self.encoder.tokenize(examples["target"]))

    def eval_outputs(self, features, labels, outputs, weights):
        if not self.config.bleu:
            return None
        width = max(self.encoder.seq_len, self.config.max_new_tokens)
        hypotheses = self.decode_ids(self.lm, features["encoder_token_ids"],
                                     features["encoder_padding_mask"])
        references = tf.ragged.boolean_mask(labels, tf.logical_and(
            weights > 0, labels != self.encoder.eos_id))
        return {"hypothesis_ids": _fixed(hypotheses, width),
                "reference_ids": _fixed(references, width)}

    def corpus_metrics(self, gathered):
        if "hypothesis_ids" not in gathered:
            return {}
        hypotheses, references = (
            [s.decode("utf-8") for s in self.encoder.detokenize(
                tf.ragged.boolean_mask(gathered[name], gathered[name] >= 0)).numpy()]
            for name in ("hypothesis_ids", "reference_ids"))
        return {"bleu": corpus_bleu(hypotheses, references)}

    def warmup_inputs(self):
        return {"source": ["A man is riding a bike."]}


def _fixed(ragged, width):
    """Ragged ids -> [batch, width] padded with -1 (so eval batches concatenate)."""
    return tf.cast(ragged, tf.int32)[:, :width].to_tensor(-1, shape=[None, width])
