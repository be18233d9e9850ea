"""The runtime's AdamW (zoo.train.optimizer) against Keras's own AdamW: it builds the
step-wide values (learning-rate schedule, bias corrections) once per step instead of
once per variable, and must still update every weight exactly as Keras does.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.train.optimizer import WarmupDecay, create_optimizer

SHAPES = {"kernel_a": (6, 4), "kernel_b": (4, 3), "embeddings": (9, 4), "bias": (3,),
          "gamma": (4,)}
STEPS = 4


def keras_adamw(clip_norm):
    reference = keras.optimizers.AdamW(
        learning_rate=WarmupDecay(1e-2, 2, 10), weight_decay=0.01, beta_1=0.9, beta_2=0.999,
        epsilon=1e-6, global_clipnorm=clip_norm)
    reference.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return reference


def train(optimizer, graph):
    """STEPS updates of fresh variables with fixed random gradients; returns the
    final weights and the number of ops in one traced update."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32"), name=name)
                 for name, shape in SHAPES.items()]
    grads = [[tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES.values()]
             for _ in range(STEPS)]
    optimizer.build(variables)

    def update(step_grads):
        optimizer.apply(step_grads, variables)
    step = tf.function(update, autograph=False) if graph else update
    for step_grads in grads:
        step(step_grads)
    ops = len(step.get_concrete_function(grads[0]).graph.get_operations()) if graph else None
    return [v.numpy() for v in variables], ops


@pytest.mark.parametrize("graph", [True, False], ids=["traced", "eager"])
@pytest.mark.parametrize("clip_norm", [0.0, 1.0])
def test_adamw_updates_every_weight_exactly_as_keras_adamw(graph, clip_norm):
    ours, our_ops = train(create_optimizer(1e-2, 10, 2, "linear", weight_decay=0.01,
                                           clip_norm=clip_norm), graph)
    theirs, their_ops = train(keras_adamw(clip_norm or None), graph)
    for name, mine, reference in zip(SHAPES, ours, theirs):
        np.testing.assert_array_equal(mine, reference, err_msg=name)
    if graph:  # the schedule and the bias corrections are built once, not per variable
        assert our_ops < their_ops * 0.75, (our_ops, their_ops)
