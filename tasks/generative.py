"""Helpers shared by the generative tasks (causal LM, span corruption,
translation): the sampler a model decodes with, token-level loss and
accuracy.

Example:
    >>> loss_sum, weight_sum = token_loss(labels, logits, weights)
"""
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
