"""The runtime's AdamW (zoo.train.optimizer) against Keras's own AdamW: it builds the
step-wide values (learning-rate schedule, bias corrections) once per step instead of
once per variable and updates each variable with one fused kernel, and must still
update every weight as Keras does.

Equal to float32 rounding, not bit for bit: Keras forms 1 - beta_1 and 1 - beta_2 in
float64 before casting them, the fused kernel in float32 (1 - 0.999 is 0.001 against
0.00099998713), which moves the weights by about 1e-6 of their value in these steps.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.train.optimizer import WarmupDecay, create_optimizer

SHAPES = {"kernel_a": (6, 4), "kernel_b": (4, 3), "embeddings": (9, 4), "bias": (3,),
          "gamma": (4,)}
STEPS = 4
#: Keras's AdamW against the fused kernel (see the module's docstring).
RTOL, ATOL = 1e-5, 1e-7


def keras_adamw(clip_norm, epsilon=1e-6):
    reference = keras.optimizers.AdamW(
        learning_rate=WarmupDecay(1e-2, 2, 10), weight_decay=0.01, beta_1=0.9, beta_2=0.999,
        epsilon=epsilon, global_clipnorm=clip_norm)
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
def test_adamw_updates_every_weight_as_keras_adamw(graph, clip_norm):
    ours, our_ops = train(create_optimizer(1e-2, 10, 2, "linear", weight_decay=0.01,
                                           clip_norm=clip_norm), graph)
    theirs, their_ops = train(keras_adamw(clip_norm or None), graph)
    for name, mine, reference in zip(SHAPES, ours, theirs):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL, err_msg=name)
    if graph:  # the schedule and the bias corrections are built once, not per variable
        assert our_ops < their_ops * 0.75, (our_ops, their_ops)


def test_adam_epsilon_reaches_the_update():
    """--adam_epsilon: a large epsilon damps every step as Keras's AdamW's does."""
    ours, _ = train(create_optimizer(1e-2, 10, 2, "linear", weight_decay=0.01, epsilon=1e-2,
                                     clip_norm=0.0), graph=True)
    theirs, _ = train(keras_adamw(None, epsilon=1e-2), graph=True)
    default, _ = train(create_optimizer(1e-2, 10, 2, "linear", weight_decay=0.01,
                                        clip_norm=0.0), graph=True)
    for name, mine, reference, other in zip(SHAPES, ours, theirs, default):
        np.testing.assert_allclose(mine, reference, rtol=RTOL, atol=ATOL, err_msg=name)
        assert not np.array_equal(mine, other), name


#: (decay, end_ratio) -> {step: closed-form value} for peak 2.0, 4 warmup steps, 12 in all:
#: warmup 2*s/4; then, at progress p = (s-4)/8, linear 2*(r + (1-r)*(1-p)), cosine
#: 2*(r + (1-r)*(1+cos(pi*p))/2), constant 2.
CLOSED_FORM = {
    ("linear", 0.0): {0: 0.0, 1: 0.5, 2: 1.0, 4: 2.0, 6: 1.5, 8: 1.0, 10: 0.5, 12: 0.0, 20: 0.0},
    ("linear", 0.1): {2: 1.0, 4: 2.0, 8: 1.1, 12: 0.2, 30: 0.2},
    ("cosine", 0.0): {2: 1.0, 4: 2.0, 6: 1.7071068, 8: 1.0, 10: 0.2928932, 12: 0.0, 16: 0.0},
    ("cosine", 0.1): {4: 2.0, 6: 1.7363961, 8: 1.1, 10: 0.4636039, 12: 0.2},
    ("constant", 0.0): {0: 0.0, 3: 1.5, 4: 2.0, 11: 2.0, 50: 2.0},
}


@pytest.mark.parametrize("decay,end_ratio", sorted(CLOSED_FORM))
def test_warmup_decay_gives_the_closed_form_values(decay, end_ratio):
    schedule = WarmupDecay(2.0, 4, 12, decay, end_ratio)
    for step, expected in CLOSED_FORM[decay, end_ratio].items():
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-6), (decay, step)


def test_warmup_decay_without_warmup_starts_at_the_peak():
    assert float(WarmupDecay(3.0, 0, 10)(0)) == pytest.approx(3.0)
    assert float(WarmupDecay(3.0, 0, 10)(5)) == pytest.approx(1.5)


def test_cosine_warmup_decay_equals_keras_cosine_decay_with_warmup():
    """Keras's CosineDecay has the same warmup-then-cosine shape (not linear or
    constant decay after a warmup, hence WarmupDecay)."""
    ours = WarmupDecay(2.0, 4, 12, "cosine", end_ratio=0.1)
    keras_one = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=8, alpha=0.1, warmup_target=2.0, warmup_steps=4)
    for step in range(0, 16):
        assert float(ours(step)) == pytest.approx(float(keras_one(step)), abs=1e-6), step
