"""AdamW (or Adafactor) with linear warmup then linear or cosine decay, and
global-norm clipping.

AdamW's step is about `learning_rate` in absolute terms, whatever the scale
of the weight; Adafactor's is `learning_rate` times the weight's RMS. T5's
initialisation (N(0, 1) embeddings, attention projections of std down to
(d_model * d_kv)^-0.5) was made for the second: under AdamW at 1e-3 its
embeddings move 0.1% a step while its query projections move 10%
(`--optimizer=adafactor --learning_rate=1e-2` trains it as T5 was trained).

Example:
    >>> optimizer = create_optimizer(learning_rate=1e-3, train_steps=1000, warmup_steps=100)
    >>> float(optimizer.learning_rate)   # at step 0
    0.0
"""
import math

import keras
import tensorflow as tf

DECAYS = ("linear", "cosine", "constant")
OPTIMIZERS = ("adamw", "adafactor")


@keras.saving.register_keras_serializable(package="zoo")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then decay to
    `peak * end_ratio` at `total_steps` (linear or cosine), or stay constant.

    Kept beside `keras.optimizers.schedules`: Keras has a warmup only in
    `CosineDecay` (`warmup_target`, `warmup_steps`), which this equals for
    `decay="cosine"` (tests/test_optimizer.py checks both against closed-form
    values); linear and constant decay after a warmup would need a wrapper
    schedule anyway, and one class keeps the three and their saved config
    (`get_config`, in checkpoints) the same.

        >>> schedule = WarmupDecay(2.0, warmup_steps=4, total_steps=12, decay="linear")
        >>> [float(schedule(s)) for s in (2, 4, 8, 12)]
        [1.0, 2.0, 1.0, 0.0]
    """

    def __init__(self, peak, warmup_steps, total_steps, decay="linear", end_ratio=0.0):
        if decay not in DECAYS:
            raise ValueError(f"unknown decay '{decay}'; choose from {', '.join(DECAYS)}")
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps
        self.decay, self.end_ratio = decay, end_ratio

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        warm = self.peak * keras.ops.minimum(step / warmup, 1.0)
        span = float(max(self.total_steps - self.warmup_steps, 1))
        progress = keras.ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        if self.decay == "linear":
            factor = 1.0 - progress
        elif self.decay == "cosine":
            factor = 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
        else:
            factor = keras.ops.ones_like(progress)
        decayed = self.peak * (self.end_ratio + (1.0 - self.end_ratio) * factor)
        return keras.ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "decay": self.decay,
                "end_ratio": self.end_ratio}


class PreReduced:
    """Mixin for a Keras optimizer that expects gradients already summed over replicas.

    Keras sums gradients across replicas inside `apply`; the runtime sums them
    itself first so that clipping sees the global gradient, so the optimizer
    must not sum a second time.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)

    def scale_learning_rates(self, factors):
        """Multiplies the learning rate of each variable in `factors` ((variable,
        factor) pairs) in every update; weight decay keeps the base rate. Call
        before training (see zoo.train.layer_lr)."""
        self._lr_factors = {self._var_key(v): float(f) for v, f in factors}

    def apply(self, grads, trainable_variables=None):
        """Keras rebuilds step-wide values (the learning-rate schedule, Adam's bias
        corrections) for every variable; the step is fixed within one `apply`, so
        each graph builds them once (`_once_per_step`)."""
        self._step_values = {}
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_values = None

    def _once_per_step(self, name, build):
        """`build()`, cached per graph while `apply` runs (rebuilt eagerly)."""
        cache = getattr(self, "_step_values", None)
        if cache is None or tf.executing_eagerly():
            return build()
        key = (tf.compat.v1.get_default_graph(), name)
        if key not in cache:
            cache[key] = build()
        return cache[key]

    def _get_current_learning_rate(self):
        return self._once_per_step("learning_rate", super()._get_current_learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        factor = getattr(self, "_lr_factors", {}).get(self._var_key(variable), 1.0)
        if factor != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, factor)
        super().update_step(gradient, variable, learning_rate)


class AdamOncePerStep:
    """Mixin for Keras's Adam(W): its update, with the step's bias corrections
    built once per step (`PreReduced._once_per_step`) instead of once per
    variable, and each variable's moments and weight updated by one fused kernel
    (TensorFlow's `ResourceApplyAdam`: Keras's arithmetic in Keras's order, one
    pass over each variable's memory instead of a dozen; benchmarks/
    optimizer_update.py). Equal to Keras's update to float32 rounding: the kernel
    forms 1 - beta in float32 where Keras casts it from float64
    (tests/test_optimizer.py). With the schedule built once too, the traced
    update has a quarter of Keras's ops (benchmarks/trace_time.py)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        ops, dtype = keras.ops, variable.dtype

        def beta_powers():
            local_step = ops.cast(self.iterations + 1, dtype)
            return (ops.power(ops.cast(self.beta_1, dtype), local_step),
                    ops.power(ops.cast(self.beta_2, dtype), local_step))
        beta_1_power, beta_2_power = self._once_per_step(("beta_powers", dtype), beta_powers)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_resource(variable), m=_resource(self._momentums[index]),
            v=_resource(self._velocities[index]), beta1_power=beta_1_power,
            beta2_power=beta_2_power, lr=ops.cast(learning_rate, dtype),
            beta1=ops.cast(self.beta_1, dtype), beta2=ops.cast(self.beta_2, dtype),
            epsilon=ops.cast(self.epsilon, dtype), grad=ops.cast(tf.convert_to_tensor(gradient), dtype),
            use_locking=False)


def _resource(variable):
    """The resource handle of a Keras or TensorFlow variable (inside a
    distribution strategy's update, the component on the current device)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


class PreReducedAdamW(PreReduced, AdamOncePerStep, keras.optimizers.AdamW):
    """AdamW on gradients the runtime already summed over replicas."""


class PreReducedAdafactor(PreReduced, keras.optimizers.Adafactor):
    """Adafactor (factored second moments, steps relative to each weight's RMS)
    on gradients the runtime already summed over replicas."""


def create_optimizer(learning_rate, train_steps, warmup_steps, decay="linear",
                     weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6, clip_norm=1.0,
                     name="adamw"):
    """AdamW (see PreReducedAdamW) or Adafactor (`name="adafactor"`, no momentum,
    steps relative to each weight's RMS) clipping gradients to global norm
    `clip_norm` (0: no clipping); LayerNorm scales/offsets and biases are
    excluded from weight decay."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{name}'; choose from {', '.join(OPTIMIZERS)}")
    schedule = WarmupDecay(learning_rate, warmup_steps, train_steps, decay)
    clip = clip_norm if clip_norm and clip_norm > 0 else None
    if name == "adafactor":
        optimizer = PreReducedAdafactor(learning_rate=schedule, weight_decay=weight_decay,
                                        clip_threshold=1.0, global_clipnorm=clip)
    else:
        optimizer = PreReducedAdamW(
            learning_rate=schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, global_clipnorm=clip)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer
