"""Sentence embeddings: a text's pooled, L2-normalised vector, trained on pairs.

Each training row is a pair (`text`, `text_b`) of texts that belong together (a
question and its answer, two halves of one document). The loss is the multiple
negatives ranking loss (sentence-transformers' `MultipleNegativesRankingLoss`):
within a replica's batch, each `text` must pick its own `text_b` among all the
batch's `text_b`s, by cosine similarity times `scale` (20), with softmax
cross-entropy. So every other pair of the batch is a negative, and larger
batches give harder ones. (The negatives are those of one replica: the batch is
split over replicas as for every task, so the loss does not depend on the
strategy only when the per-replica batch is kept.)

Pooling (`pooling`): `auto` takes what a sentence-transformers directory's
`1_Pooling/config.json` names when `--init_checkpoint` is one (mean, cls or
max), else `mean`; the pooled vector is L2-normalised.

Evaluation ranks every eval `text_b` for every eval `text` (cosine similarity)
and reports retrieval accuracy@1 and the mean reciprocal rank over the whole
eval set, besides the in-batch loss and accuracy.

The export's `serving_default` takes raw `text` and returns `embedding` [batch,
hidden], unit length; `similarity` takes `text` and `text_b` and returns their
cosine similarity.

Example:
    zoo-train --model=bert_mini --task=embedding --init_checkpoint=all-minilm-l6-v2 \\
              --train_data=pairs.tsv --eval_data=held_out_pairs.tsv --model_dir=runs/emb
    zoo-export --model_dir=runs/emb --export_dir=serving/emb
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from plugins import TASKS, OverrideError, TaskPlugin
from plugins.task import ENCODER
from tasks.pooled_head import backbone_input_names, backbone_outputs, check_texts_not_empty, \
    pooled_vector
from zoo.train.losses import accuracy_sum, sparse_cross_entropy_sum

POOLINGS = ("auto", "mean", "cls", "max")


@dataclasses.dataclass(frozen=True)
class EmbeddingConfig:
    pooling: str = "auto"  # auto: the init checkpoint's 1_Pooling/config.json, else mean
    scale: float = 20.0    # cosine similarities are multiplied by this before the softmax

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise OverrideError(f"pooling must be one of {', '.join(POOLINGS)}, "
                                f"got '{self.pooling}'")
        if not self.scale > 0:
            raise OverrideError(f"scale must be > 0, got {self.scale}")


def retrieval_metrics(queries, candidates):
    """Accuracy@1 and mean reciprocal rank of candidate i for query i, ranking all
    candidates by dot product (cosine for unit vectors).

    >>> retrieval_metrics(np.eye(3), np.eye(3))
    {'retrieval_accuracy_at_1': 1.0, 'retrieval_mrr': 1.0}
    """
    scores = np.asarray(queries, np.float64) @ np.asarray(candidates, np.float64).T
    own = np.diagonal(scores)[:, None]
    ranks = 1 + (scores > own).sum(axis=1)  # ties count in the pair's favour
    return {"retrieval_accuracy_at_1": float(np.mean(ranks == 1)),
            "retrieval_mrr": float(np.mean(1.0 / ranks))}


@TASKS.register("embedding")
class Embedding(TaskPlugin):
    """Pooled, normalised text embeddings trained with in-batch negatives."""
    name = "embedding"
    families = (ENCODER,)
    data_fields = ("text", "text_b")
    config_class = EmbeddingConfig
    signature_names = ("serving_default", "similarity")
    min_seq_len = 3  # [CLS] a [SEP]

    @classmethod
    def check_row(cls, config, path, line, row):
        check_texts_not_empty(path, line, row)

    def _encode(self, texts, suffix=""):
        token_ids, segment_ids, padding_mask = self.encoder.encode(texts)
        return {"token_ids" + suffix: token_ids, "segment_ids" + suffix: segment_ids,
                "padding_mask" + suffix: padding_mask}

    def preprocess(self, examples, seed=None):
        features = {**self._encode(examples["text"]), **self._encode(examples["text_b"], "_b")}
        batch = tf.shape(examples["text"])[0]
        return features, tf.range(batch, dtype=tf.int32), tf.ones([batch], tf.float32)

    def build_model(self, backbone):
        """A model of both texts' embeddings, [batch, 2, hidden]; its layer
        `embedder` maps one text's ids to its embedding (what serving runs)."""
        names = backbone_input_names(backbone)
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in names}
        pooling = "mean" if self.config.pooling == "auto" else self.config.pooling
        pooled = pooled_vector(backbone_outputs(backbone, inputs), inputs["padding_mask"],
                               pooling)
        normalized = keras.layers.UnitNormalization(axis=-1, dtype="float32",
                                                    name="normalize")(pooled)
        embedder = keras.Model(inputs, normalized, name="embedder")
        pair = {name + suffix: keras.Input((None,), dtype="int32", name=name + suffix)
                for suffix in ("", "_b") for name in names}
        first = embedder({name: pair[name] for name in names})
        second = embedder({name: pair[name + "_b"] for name in names})
        outputs = keras.ops.stack([first, second], axis=1)
        return keras.Model(pair, outputs, name="embedding_model")

    def _logits(self, outputs):
        outputs = tf.cast(outputs, tf.float32)
        return self.config.scale * tf.matmul(outputs[:, 0], outputs[:, 1], transpose_b=True)

    def loss(self, labels, outputs, weights):
        return sparse_cross_entropy_sum(labels, self._logits(outputs), weights)

    def metrics(self, labels, outputs, weights):
        return {"in_batch_accuracy": accuracy_sum(labels, self._logits(outputs), weights)}

    def eval_outputs(self, features, labels, outputs, weights):
        return {"text": tf.cast(outputs[:, 0], tf.float32),
                "text_b": tf.cast(outputs[:, 1], tf.float32)}

    def corpus_metrics(self, gathered):
        return retrieval_metrics(gathered["text"], gathered["text_b"])

    def serving_signatures(self, model):
        embedder = model.get_layer("embedder")

        def embed(texts):
            return tf.cast(embedder(self._encode(texts), training=False), tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serving_default(text):
            return {"embedding": embed(text)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([None], tf.string, name="text_b")])
        def similarity(text, text_b):
            return {"similarity": tf.reduce_sum(embed(text) * embed(text_b), axis=-1)}
        return {"serving_default": serving_default, "similarity": similarity}

    def warmup_inputs(self):
        return {"text": ["a gripping film"], "text_b": ["the film held my attention"]}
