"""Multi-label text classification: each text carries zero or more tags.

Data: a `text` column and a `label` column of tags separated by `|`
(`sports|politics`, or empty for none). Each tag gets a sigmoid output;
the export returns per-tag probabilities and the tags above `threshold`.

    zoo-train --task=multilabel --train_data=news.tsv --model_dir=runs/tags
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS
from plugins.task import DECODER, ENCODER, ENCODER_DECODER
from tasks.pooled_head import PooledHeadTask
from zoo.data.formats.readers import DataError


@dataclasses.dataclass(frozen=True)
class MultiLabelConfig:
    labels: str = ""  # tag names separated by '|'; empty: every tag in the training data
    threshold: float = 0.5
    dropout: float = 0.1
    pair: bool = False


def split_tags(text):
    return [tag.strip() for tag in text.split("|") if tag.strip()]


@TASKS.register("multilabel")
class MultiLabel(PooledHeadTask):
    name = "multilabel"
    families = (ENCODER, DECODER, ENCODER_DECODER)
    config_class = MultiLabelConfig
    may_be_empty = ("label",)  # an empty tag list: no tags

    @classmethod
    def prepare(cls, config, rows):
        if config.labels:
            return config
        tags = sorted({tag for _, _, row in rows for tag in split_tags(row["label"])})
        return dataclasses.replace(config, labels="|".join(tags))

    @classmethod
    def check_row(cls, config, path, line, row):
        unknown = set(split_tags(row["label"])) - set(config.labels.split("|"))
        if unknown:
            raise DataError(f"{path}:{line}: unknown tags {', '.join(sorted(unknown))}")

    def head_units(self):
        return len(self.config.labels.split("|"))

    def targets(self, examples):
        names = tf.constant(self.config.labels.split("|"))
        tags = tf.strings.strip(tf.strings.split(examples["label"], "|"))
        hits = tf.cast(tf.equal(tags[:, :, None], names[None, None, :]), tf.float32)
        multi_hot = tf.reduce_max(hits.to_tensor(0.0), axis=1)  # [batch, tags]
        multi_hot = tf.reshape(multi_hot, [-1, self.head_units()])
        return multi_hot, tf.ones_like(multi_hot[:, 0])

    def loss(self, labels, outputs, weights):
        per_tag = tf.nn.sigmoid_cross_entropy_with_logits(labels, tf.cast(outputs, tf.float32))
        return tf.reduce_sum(tf.reduce_mean(per_tag, -1) * weights), tf.reduce_sum(weights)

    def metrics(self, labels, outputs, weights):
        predicted = tf.cast(tf.sigmoid(tf.cast(outputs, tf.float32)) > self.config.threshold,
                            tf.float32)
        exact = tf.reduce_all(tf.equal(predicted, labels), axis=-1)
        return {"exact_match": (tf.reduce_sum(tf.cast(exact, tf.float32) * weights),
                                tf.reduce_sum(weights))}

    def serving_signatures(self, model):
        names, threshold = tf.constant(self.config.labels.split("|")), self.config.threshold

        def outputs(logits):
            probabilities = tf.sigmoid(logits)
            chosen = tf.ragged.boolean_mask(
                tf.broadcast_to(names, tf.shape(probabilities)), probabilities > threshold)
            return {"probabilities": probabilities,
                    "tags": tf.strings.reduce_join(chosen, axis=-1, separator="|")}
        return {"serving_default": self.serving_function(model, outputs)}
