"""Regression of a float target (e.g. similarity scores) from a text or a text pair.

Mean squared error; Pearson and Spearman correlations over the eval set. A
target that is not a number fails naming file and line.

Example:
    zoo-train --model=bert_mini --task=regression --task_config=pair=true \\
              --train_data=stsb/train.tsv --eval_data=stsb/dev.tsv --model_dir=runs/stsb
"""
import dataclasses
import math

import tensorflow as tf

from plugins import TASKS
from plugins.task import DECODER, ENCODER, ENCODER_DECODER
from tasks.pooled_head import PooledHeadConfig, PooledHeadTask, check_texts_not_empty
from zoo.evaluate.corpus_metrics import pearson, spearman
from zoo.data.formats.readers import DataError


@dataclasses.dataclass(frozen=True)
class RegressionConfig(PooledHeadConfig):
    pair: bool = False


@TASKS.register("regression")
class Regression(PooledHeadTask):
    """One linear output on the pooled vector, trained with MSE."""
    name = "regression"
    families = (ENCODER, DECODER, ENCODER_DECODER)
    config_class = RegressionConfig

    @classmethod
    def check_row(cls, config, path, line, row):
        check_texts_not_empty(path, line, row)
        try:
            value = float(row["label"])
        except ValueError:
            raise DataError(f"{path}:{line}: regression target '{row['label'].strip()}' "
                            "is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{path}:{line}: regression target '{row['label'].strip()}' "
                            "is not finite")

    def head_units(self):
        return 1

    def targets(self, examples):
        labels = tf.strings.to_number(tf.strings.strip(examples["label"]), tf.float32)
        return labels, tf.ones_like(labels)

    def loss(self, labels, outputs, weights):
        error = tf.squeeze(tf.cast(outputs, tf.float32), -1) - labels
        return tf.reduce_sum(tf.square(error) * weights), tf.reduce_sum(weights)

    def eval_outputs(self, features, labels, outputs, weights):
        return {"score": tf.squeeze(tf.cast(outputs, tf.float32), -1), "label": labels}

    def corpus_metrics(self, gathered):
        return {"pearson": pearson(gathered["label"], gathered["score"]),
                "spearman": spearman(gathered["label"], gathered["score"])}

    def serving_signatures(self, model):
        return {"serving_default": self.serving_function(
            model, lambda logits: {"score": tf.squeeze(logits, -1)})}
