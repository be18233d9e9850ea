"""Mixed precision for training: Keras dtype policies and dynamic loss scaling.

`--precision=mixed_bfloat16` or `mixed_float16` computes in 16 bits while the
variables (and so checkpoints and exports) stay float32; tasks cast logits to
float32 before softmax and loss (zoo.train.losses). The policy applies to the model
built for training only (`dtype_policy`), so exports and evaluation build a
float32 model from the same float32 checkpoint. float16 also wraps the
optimizer in Keras's `LossScaleOptimizer`: the loss is multiplied by a dynamic
scale, gradients are divided by it before clipping (the inner AdamW clips),
and a step whose gradients overflow is skipped and the scale halved. The scale
is an optimizer variable, so it is checkpointed and resumes.

Example:
    >>> with dtype_policy("mixed_bfloat16"):
    ...     run = assemble(config, model_dir)      # bfloat16 compute, float32 variables
    >>> optimizer = with_loss_scaling(create_optimizer(...), "mixed_float16")
"""
import contextlib

import keras

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose from {', '.join(PRECISIONS)}")


def uses_loss_scaling(precision):
    """float16 needs loss scaling (its range is small); bfloat16 does not."""
    return precision == "mixed_float16"


@contextlib.contextmanager
def dtype_policy(precision):
    """Sets Keras's global dtype policy for the layers built inside, then restores it."""
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def with_loss_scaling(optimizer, precision):
    """The optimizer, wrapped in a dynamic LossScaleOptimizer for float16."""
    if uses_loss_scaling(precision):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def loss_scale(optimizer):
    """The optimizer's current loss scale variable, or None without loss scaling."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale
    return None
