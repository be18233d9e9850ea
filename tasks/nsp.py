"""Next-sentence prediction (BERT's second pretraining objective).

Each example is a document (use `--text_mode=paragraph` for blank-line
separated documents; sentences are split at line breaks and at `. ! ?`).
For every document a sentence `a` is drawn with, half of the time, the
sentence that follows it as `b` (label 0, IsNext), else a random sentence
of another document of the batch (label 1, NotNext). One-sentence documents
always get a random `b`. Packed as `[CLS] a [SEP] b [SEP]` with segment ids.

Example:
    zoo-train --model=bert_mini --task=nsp --text_mode=paragraph --train_data=docs.txt
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS
from plugins.task import ENCODER
from tasks.pooled_head import PooledHeadTask
from zoo.train.losses import accuracy_sum, sparse_cross_entropy_sum

IS_NEXT, NOT_NEXT = 0, 1


def split_sentences(documents):
    """1-D documents -> ragged [docs, sentences] of non-empty, stripped sentences."""
    marked = tf.strings.regex_replace(documents, r"([.!?])\s+", "\\1\n")
    sentences = tf.strings.strip(tf.strings.split(marked, "\n"))
    return tf.ragged.boolean_mask(sentences, tf.strings.length(sentences) > 0)


def sentence_pairs(documents, seed, next_rate=0.5):
    """Builds (first, second, label) string/int32 tensors for a batch of documents."""
    sentences = split_sentences(documents)
    counts = tf.cast(sentences.row_lengths(), tf.int32)
    dense = sentences.to_tensor("")
    batch, rows = tf.shape(documents)[0], tf.range(tf.shape(documents)[0])
    seeds = tf.random.experimental.stateless_split(seed, 4)

    def draw(index, limit):
        """A uniform int in [0, limit) per row (limit >= 1)."""
        unit = tf.random.stateless_uniform([batch], seeds[index])
        return tf.cast(tf.math.floor(unit * tf.cast(limit, tf.float32)), tf.int32)

    def take(doc, index):
        index = tf.minimum(index, tf.maximum(tf.shape(dense)[1] - 1, 0))
        return tf.gather_nd(dense, tf.stack([doc, index], axis=1))

    use_next = (tf.random.stateless_uniform([batch], seeds[0]) < next_rate) & (counts >= 2)
    first_index = tf.where(use_next, draw(1, tf.maximum(counts - 1, 1)),
                           draw(1, tf.maximum(counts, 1)))
    other_doc = (rows + 1 + draw(2, tf.maximum(batch - 1, 1))) % batch
    other_index = draw(3, tf.maximum(tf.gather(counts, other_doc), 1))
    first = take(rows, first_index)
    second = tf.where(use_next, take(rows, first_index + 1), take(other_doc, other_index))
    labels = tf.where(use_next, IS_NEXT, NOT_NEXT)
    return first, second, labels


def next_sentence_outputs(logits):
    """`is_next` and `is_next_probability` of [batch, 2] IsNext/NotNext logits."""
    probability = tf.nn.softmax(tf.cast(logits, tf.float32))[:, IS_NEXT]
    return {"is_next": probability > 0.5, "is_next_probability": probability}


def next_sentence_signature(encoder, nsp_logits):
    """The next-sentence serving signature of `nsp` and `mlm_nsp`: raw pairs (`text`,
    `text_b`) are packed as `[CLS] a [SEP] b [SEP]`; `nsp_logits(features)` maps
    {token_ids, segment_ids, padding_mask} to the [batch, 2] logits."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.string, name="text_b")])
    def next_sentence(text, text_b):
        token_ids, segment_ids, padding_mask = encoder.encode(text, text_b)
        return next_sentence_outputs(nsp_logits(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}))
    return next_sentence


@dataclasses.dataclass(frozen=True)
class NspConfig:
    next_rate: float = 0.5
    dropout: float = 0.1

    pair = True  # the serving signature takes two texts


@TASKS.register("nsp")
class NextSentence(PooledHeadTask):
    """Binary IsNext/NotNext classifier on the pooled [CLS] vector."""
    name = "nsp"
    families = (ENCODER,)
    config_class = NspConfig

    @classmethod
    def fields_for(cls, config):
        return ("text",)

    def head_units(self):
        return 2

    def preprocess(self, examples, seed=None):
        seed = tf.constant([0, 0], tf.int64) if seed is None else seed
        first, second, labels = sentence_pairs(examples["text"], seed, self.config.next_rate)
        features = self.encode({"text": first, "text_b": second})
        return features, labels, tf.ones_like(labels, tf.float32)

    def loss(self, labels, outputs, weights):
        return sparse_cross_entropy_sum(labels, outputs, weights)

    def metrics(self, labels, outputs, weights):
        return {"nsp_accuracy": accuracy_sum(labels, outputs, weights)}

    def serving_signatures(self, model):
        def logits(features):
            return model({name: features[name] for name in self.input_names}, training=False)
        return {"serving_default": next_sentence_signature(self.encoder, logits)}

    def warmup_inputs(self):
        return {"text": ["the cat sat down ."], "text_b": ["then it slept ."]}
