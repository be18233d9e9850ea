"""Gradient accumulation: one optimizer step over several micro-batches.

`--global_batch_size` stays the examples per optimizer step. With
`--grad_accum_steps=N` each replica splits its share of the batch into N equal
micro-batches (rows [0, b/N), [b/N, 2b/N), ...), runs forward and backward on
each in a `tf.while_loop` and sums what the step returns (gradients of loss
sums, loss and metric sums); the runtime then divides by the weight summed
over all micro-batches and replicas and applies once. So the result equals
one step on the whole batch, up to float rounding, for any N.

Nothing here synchronises replicas: collectives cannot run inside a while
loop (or a nested XLA function) under MirroredStrategy.

Example:
    >>> grads, values = accumulate(micro_step, (features, labels, weights), steps=4)
"""
import tensorflow as tf


def _split(tensor, steps):
    """[b, ...] -> [steps, b / steps, ...]."""
    if tensor.shape[1:].is_fully_defined():
        return tf.reshape(tensor, [steps, -1] + tensor.shape[1:].as_list())
    return tf.reshape(tensor, tf.concat([[steps, -1], tf.shape(tensor)[1:]], 0))


def micro_batch(batch, steps, index):
    """Micro-batch `index` of `steps` equal ones (the batch size must divide)."""
    return tf.nest.map_structure(lambda t: _split(t, steps)[index], batch)


def accumulate(step, batch, steps):
    """Sums `step(micro_batch)` over `steps` micro-batches of `batch`.

    `step` returns a nest of tensors; None leaves (e.g. the gradient of an
    unused variable) stay None. `steps == 1` calls `step(batch)` once.
    """
    if steps == 1:
        return step(batch)
    first = step(micro_batch(batch, steps, 0))
    flat = tf.nest.flatten(first)
    kept = [i for i, value in enumerate(flat) if value is not None]

    def body(index, totals):
        new = tf.nest.flatten(step(micro_batch(batch, steps, index)))
        return index + 1, [total + new[i] for total, i in zip(totals, kept)]

    _, totals = tf.while_loop(lambda index, _: index < steps, body,
                              (tf.constant(1), [flat[i] for i in kept]),
                              parallel_iterations=1)  # one micro-batch in memory at a time
    for i, total in zip(kept, totals):
        flat[i] = total
    return tf.nest.pack_sequence_as(first, flat)
