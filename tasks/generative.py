"""Helpers shared by the generative tasks (causal LM, span corruption,
translation): the sampler a model decodes with, token-level loss and
accuracy, and per-row sums for perplexity.

Example:
    >>> loss_sum, weight_sum = token_loss(labels, logits, weights)
"""
import math

import tensorflow as tf

from plugins import TaskPlugin
from zoo.serve.generation import make_sampler
from zoo.train.losses import accuracy_sum, sparse_cross_entropy_sum


class DecodingTask(TaskPlugin):
    """Base of tasks whose model decodes with a keras-hub sampler (`self.lm`)."""

    def with_sampler(self, model):
        """Gives `model` the sampler of the task's decoding options, made eagerly
        (a random sampler holds a seed variable the export must track)."""
        model.sampler = make_sampler(self.config)
        self.lm = model
        return model

    def serving_objects(self):
        return list(self.lm.sampler.variables)


def token_loss(labels, logits, weights, label_smoothing=0.0):
    return sparse_cross_entropy_sum(labels, logits, weights, label_smoothing)


def token_metrics(labels, logits, weights):
    return {"token_accuracy": accuracy_sum(labels, logits, weights)}


def row_nll(labels, logits, weights):
    """Per-row negative log-likelihood sums and token counts (gathered on the
    host for corpus perplexity)."""
    weights = tf.cast(weights, tf.float32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.cast(labels, tf.int32), tf.cast(logits, tf.float32))
    return {"nll": tf.reduce_sum(nll * weights, axis=1), "tokens": tf.reduce_sum(weights, axis=1)}


def perplexity(gathered):
    """exp(total NLL / total tokens) over the eval set."""
    tokens = float(gathered["tokens"].sum())
    return math.exp(min(float(gathered["nll"].sum()) / max(tokens, 1.0), 700.0))
