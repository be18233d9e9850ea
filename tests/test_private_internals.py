"""Canaries for the private names of Keras, orbit and keras-hub that the zoo uses
where no public API does the job (docs/reliability.md#private-internals lists
them and why). Each test fails naming the internal if it disappears or stops
behaving as the zoo needs: a release that renames one must fail here, not
silently change training (gradients summed twice, dropout state no longer
checkpointed). README.md states the versions these last passed on.

Example:
    python -m pytest -q tests/test_private_internals.py
"""
import contextlib
import inspect
import io

import keras
import numpy as np
import orbit
import pytest
import tensorflow as tf
from absl import logging

from zoo.train import loop  # noqa: F401  (replaces orbit.controller._log on import)
from zoo.train.lora import merge_adapters, projections
from zoo.train.optimizer import PreReducedAdamW


def variables_and_grads():
    variables = [keras.Variable(np.ones((3, 2), "float32"), name="w"),
                 keras.Variable(np.full((2,), 0.5, "float32"), name="b")]
    grads = [tf.constant([[0.1, -0.2], [0.3, 0.0], [-0.5, 0.25]]), tf.constant([0.2, -0.1])]
    return variables, grads


def test_orbit_controller_log():
    """orbit.controller._log: orbit's Controller prints each log line to stdout; the
    zoo points it at absl's log so that only its own progress line is printed."""
    assert callable(getattr(orbit.controller, "_log", None)), \
        "orbit.controller._log is gone: orbit lines would be printed with the progress"
    assert "_log(" in inspect.getsource(orbit.controller.Controller), \
        "orbit.controller.Controller no longer logs through _log"
    assert orbit.controller._log is logging.info

    step = tf.Variable(0, dtype=tf.int64)

    class Trainer(orbit.AbstractTrainer):
        def train(self, num_steps):
            step.assign_add(tf.cast(num_steps, tf.int64))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        orbit.Controller(trainer=Trainer(), global_step=step, steps_per_loop=1).train(2)
    assert printed.getvalue() == "", \
        f"orbit.controller._log replaced, yet orbit printed: {printed.getvalue()!r}"


def test_optimizer_all_reduce_sum_gradients():
    """Optimizer._all_reduce_sum_gradients: the runtime sums gradients over replicas
    itself (so clipping sees the global norm); the zoo's optimizer must return them
    as they are, and Keras must call it by this name, or they are summed twice."""
    calls = []

    class Spy(PreReducedAdamW):
        def _all_reduce_sum_gradients(self, grads_and_vars):
            result = super()._all_reduce_sum_gradients(grads_and_vars)
            calls.append(result)
            return result
    variables, grads = variables_and_grads()
    Spy(learning_rate=1e-2).apply(grads, variables)
    assert calls, "Keras's optimizer.apply no longer calls _all_reduce_sum_gradients"
    returned = [g for g, _ in calls[0]]
    assert all(r is g for r, g in zip(returned, grads)), \
        "PreReduced._all_reduce_sum_gradients changed the gradients"


def test_optimizer_var_key():
    """Optimizer._var_key: per-variable learning-rate factors (--layer_lr_decay) are
    keyed by it, and must match the variable that update_step receives."""
    variables, grads = variables_and_grads()
    optimizer = PreReducedAdamW(learning_rate=1e-2, weight_decay=0.0)
    optimizer.build(variables)
    optimizer.scale_learning_rates([(variables[0], 0.0)])
    before = [v.numpy().copy() for v in variables]
    tf.function(lambda: optimizer.apply(grads, variables))()
    assert np.array_equal(variables[0].numpy(), before[0]), \
        "Optimizer._var_key no longer matches update_step's variable: lr factor ignored"
    assert not np.array_equal(variables[1].numpy(), before[1])


def test_optimizer_get_current_learning_rate():
    """Optimizer._get_current_learning_rate: the zoo builds the schedule once per step
    through it; Keras must call it in apply, and it must give the schedule's value."""
    calls = []

    class Spy(PreReducedAdamW):
        def _get_current_learning_rate(self):
            calls.append(1)
            return super()._get_current_learning_rate()
    schedule = keras.optimizers.schedules.PolynomialDecay(1e-2, 10, 0.0)
    variables, grads = variables_and_grads()
    optimizer = Spy(learning_rate=schedule)
    optimizer.apply(grads, variables)
    assert calls, "Keras's optimizer.apply no longer calls _get_current_learning_rate"
    assert float(optimizer._get_current_learning_rate()) == pytest.approx(float(schedule(1)))


def test_adam_momentums_velocities_get_variable_index():
    """Adam._momentums, _velocities, _get_variable_index: the zoo's Adam update
    (bias corrections once per step) must equal Keras's own AdamW."""
    ours_vars, grads = variables_and_grads()
    theirs_vars, _ = variables_and_grads()
    kwargs = dict(learning_rate=1e-2, weight_decay=0.01, beta_1=0.9, beta_2=0.999,
                  epsilon=1e-6)
    ours, theirs = PreReducedAdamW(**kwargs), keras.optimizers.AdamW(**kwargs)
    for _ in range(3):
        ours.apply(grads, ours_vars)
        theirs.apply(grads, theirs_vars)
    for name in ("_momentums", "_velocities", "_get_variable_index"):
        assert hasattr(ours, name), f"keras Adam.{name} is gone"
    for mine, keras_one in zip(ours_vars, theirs_vars):
        np.testing.assert_allclose(mine.numpy(), keras_one.numpy(), rtol=1e-6, atol=1e-7,
                                   err_msg="the zoo's Adam update (_momentums, _velocities, "
                                   "_get_variable_index) differs from Keras's AdamW")


def nested_model():
    inputs = keras.Input((4,))
    inner = keras.Sequential([keras.layers.Dense(4), keras.layers.Dropout(0.5)], name="inner")
    outer = keras.Sequential([inner, keras.layers.Dense(2)], name="outer")
    return keras.Model(inputs, outer(inputs))


def test_layer_flatten_layers():
    """Layer._flatten_layers: every nested layer (the public `layers` is one level)."""
    model = nested_model()
    found = model._flatten_layers(include_self=False, recursive=True)
    assert model not in found
    assert any(isinstance(layer, keras.layers.Dropout) for layer in found), \
        "Layer._flatten_layers no longer finds nested layers"
    assert model in list(model._flatten_layers(include_self=True, recursive=True))


def test_layer_seed_generators():
    """Layer._seed_generators: dropout's random state, checkpointed so that a resumed
    run draws the same masks (zoo.train.loop.random_states)."""
    model = nested_model()
    states = loop.random_states(model)
    public = [v.value for v in model.variables if "seed_generator" in v.path]
    assert states and {id(s) for s in states} == {id(v) for v in public}, \
        "Layer._seed_generators no longer holds the seed-generator states of Layer.variables"
    before = [s.numpy().copy() for s in states]
    model(np.ones((2, 4), "float32"), training=True)
    assert any(not np.array_equal(b, s.numpy()) for b, s in zip(before, states)), \
        "dropout no longer advances the states of Layer._seed_generators"


@pytest.mark.parametrize("layer", [keras.layers.Dense(3),
                                   keras.layers.EinsumDense("ab,bc->ac", output_shape=3)])
def test_dense_kernel_under_lora(layer):
    """Dense._kernel, EinsumDense._kernel: the stored kernel; under LoRA the public
    `kernel` is it plus the scaled adapters (zoo.train.lora merges them in)."""
    layer.build((None, 4))
    assert isinstance(getattr(layer, "_kernel", None), keras.Variable), \
        f"{type(layer).__name__}._kernel is no longer the kernel variable"
    assert layer._kernel.path.endswith("/kernel")
    layer.enable_lora(2, lora_alpha=4)
    layer.lora_kernel_b.assign(np.full(layer.lora_kernel_b.shape, 0.1, "float32"))
    expected = layer._kernel.numpy() + (layer.lora_kernel_a.numpy() @
                                        layer.lora_kernel_b.numpy()) * 2.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel), expected, rtol=1e-5,
                               err_msg=f"{type(layer).__name__}.kernel is no longer "
                               "_kernel + lora_a @ lora_b * alpha / rank")
    inputs = np.ones((2, 4), "float32")
    adapted = keras.ops.convert_to_numpy(layer(inputs))
    model = keras.Sequential([layer])
    assert merge_adapters(model) == 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(inputs)), adapted, rtol=1e-5)
    assert [path for path, _ in projections(model)] == [layer._kernel.path.rsplit("/", 1)[0]]


def test_keras_hub_transformers_converters():
    """keras_hub.src.utils.transformers.convert_bert / convert_gpt2: zoo.models.hf_import
    reads a Hugging Face config.json into backbone sizes with them (keras-hub's only
    public route, from_preset, loads the weights too)."""
    try:
        from keras_hub.src.utils.transformers import convert_bert, convert_gpt2
    except ImportError as error:
        pytest.fail(f"keras_hub.src.utils.transformers is gone: {error}")
    bert = convert_bert.convert_backbone_config({
        "vocab_size": 100, "num_hidden_layers": 2, "num_attention_heads": 4,
        "hidden_size": 32, "intermediate_size": 64, "max_position_embeddings": 48})
    assert {k: bert[k] for k in ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
                                 "intermediate_dim", "max_sequence_length")} == \
        {"vocabulary_size": 100, "num_layers": 2, "num_heads": 4, "hidden_dim": 32,
         "intermediate_dim": 64, "max_sequence_length": 48}, \
        "keras_hub.src.utils.transformers.convert_bert.convert_backbone_config changed"
    gpt2 = convert_gpt2.convert_backbone_config({
        "vocab_size": 100, "n_layer": 2, "n_head": 4, "n_embd": 32, "n_positions": 48,
        "resid_pdrop": 0.1})
    assert (gpt2["num_layers"], gpt2["hidden_dim"], gpt2["max_sequence_length"]) == \
        (2, 32, 48), "keras_hub.src.utils.transformers.convert_gpt2.convert_backbone_config changed"


def test_keras_hub_transformers_weight_converters():
    """keras_hub.src.utils.transformers.convert_*.convert_weights: zoo.serve.hf_export
    runs keras-hub's importers against a recording loader to invert them (its
    round trip is tests/test_hf_export.py); their call shape must stay."""
    from keras_hub.src.utils.transformers import convert_bert, convert_gpt2
    for module in (convert_bert, convert_gpt2):
        parameters = list(inspect.signature(module.convert_weights).parameters)
        assert parameters == ["backbone", "loader", "transformers_config"], \
            f"{module.__name__}.convert_weights now takes {parameters}"
        assert "loader.port_weight(" in inspect.getsource(module.convert_weights), \
            f"{module.__name__}.convert_weights no longer reads through loader.port_weight"
