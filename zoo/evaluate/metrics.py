"""Metric accumulators that sum over replicas and steps: value = sum / count.

Variables are sync-on-read, so each replica adds locally and a read in the
cross-replica context sums over replicas (as Keras metrics do).

Example:
    >>> with strategy.scope():
    ...     sums = MetricSums(["loss", "masked_accuracy"])
    >>> sums.update({"loss": (loss_sum, weight_sum)})   # inside strategy.run
    >>> sums.result()
    {'loss': 3.2, 'masked_accuracy': 0.41}
"""
import tensorflow as tf


def _sum_variable(name):
    return tf.Variable(0.0, dtype=tf.float32, trainable=False, name=name,
                       synchronization=tf.VariableSynchronization.ON_READ,
                       aggregation=tf.VariableAggregation.SUM)


class MetricSums:
    def __init__(self, names):
        self.names = tuple(names)
        self._sums = {n: (_sum_variable(f"{n}_sum"), _sum_variable(f"{n}_count"))
                      for n in self.names}

    def update(self, values):
        for name, (total, count) in values.items():
            total_var, count_var = self._sums[name]
            total_var.assign_add(tf.cast(total, tf.float32))
            count_var.assign_add(tf.cast(count, tf.float32))

    def totals(self):
        return {n: (float(t.numpy()), float(c.numpy())) for n, (t, c) in self._sums.items()}

    def result(self):
        return {n: (t / c if c else float("nan")) for n, (t, c) in self.totals().items()}

    def reset(self):
        for total, count in self._sums.values():
            total.assign(0.0)
            count.assign(0.0)
