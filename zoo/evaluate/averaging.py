"""Checkpoint averaging: a model holding the mean of the last N checkpoints of a run.

Averaging the weights of the last few checkpoints (Vaswani et al. 2017 average
the last 5 or 20; Wu et al. 2021's Transformer-tiny the last 10) smooths the
noise of the final steps, and usually adds BLEU for nothing.
`zoo-export --average_checkpoints=N` and `evaluate_model_dir(...,
average_checkpoints=N)` use it. Float variables get the mean; the others
(counters, seeds) keep the newest checkpoint's value.

Example:
    >>> paths = last_checkpoints("runs/ende", 5)              # oldest first
    >>> restore_average(run.model, paths)                     # the model now holds the mean
"""
import os

import numpy as np
import tensorflow as tf


def last_checkpoints(model_dir, count, until=None):
    """The paths of the last `count` checkpoints model_dir keeps (oldest first),
    ending at `until` (a checkpoint path) when given; ValueError if fewer exist."""
    state = tf.train.get_checkpoint_state(model_dir)
    paths = [str(p) for p in state.all_model_checkpoint_paths] if state else []
    if until:
        names = [os.path.basename(p) for p in paths]
        if os.path.basename(until) not in names:
            raise ValueError(f"'{until}' is not one of the checkpoints '{model_dir}' keeps "
                             f"({', '.join(names) or 'none'})")
        paths = paths[:names.index(os.path.basename(until)) + 1]
    if count < 1 or count > len(paths):
        raise ValueError(f"cannot average {count} checkpoints: '{model_dir}' keeps "
                         f"{len(paths)} ({', '.join(os.path.basename(p) for p in paths)}); "
                         "train with a larger --keep_checkpoints")
    return paths[-count:]


def restore_average(model, paths):
    """Restores each checkpoint (model weights only) into `model` in turn and leaves
    in it the mean of its float variables (the others as in the last path)."""
    sums = None
    for path in paths:
        tf.train.Checkpoint(model=model).restore(path).expect_partial() \
            .assert_existing_objects_matched()
        values = [v.numpy() for v in model.variables]
        if sums is None:
            sums = [value.astype(np.float64) for value in values]
        else:
            sums = [total + value for total, value in zip(sums, values)]
    for variable, total in zip(model.variables, sums):
        dtype = tf.as_dtype(variable.dtype)  # (a Keras variable's dtype is a string)
        if dtype.is_floating:
            variable.assign((total / len(paths)).astype(dtype.as_numpy_dtype))
    return model
