"""Times one AdamW update over a model's weights, the project's against Keras's.

The runtime's AdamW (zoo.train.optimizer) updates each variable's moments and
value with one fused kernel (`ResourceApplyAdam`); Keras's AdamW with a dozen
elementwise ops, each a pass over the variable's memory. Both have the same
schedule, weight decay (LayerNorm and biases excluded) and global-norm
clipping, so the difference is the update's kernels. Each side's update is
traced once in a `tf.function` that applies it `--updates_per_call` times, run
once to warm up, then timed over `--calls` calls (the sides alternate, so a
change in the machine's load falls on both); prints the best call's ms per
update and the variable bytes per update.

    python benchmarks/optimizer_update.py --models=bert_mini,bert_base
"""
import time

from absl import app, flags

import trace_time

FLAGS = flags.FLAGS  # --models: trace_time's (registered models)
flags.DEFINE_integer("calls", 5, "Timed calls per side (the best one is printed).")
flags.DEFINE_integer("updates_per_call", 10, "Updates in one traced call.")


def timed_update(make, variables):
    """A traced call of `--updates_per_call` of trace_time's update (zero gradients:
    the kernels' time does not depend on the values)."""
    import tensorflow as tf
    update = trace_time.optimizer_update(make(), variables)

    @tf.function(autograph=False)
    def call():
        for _ in range(FLAGS.updates_per_call):
            update()
    call()
    return call


def main(_):
    print("model       parameters  optimizer    ms/update  MB of weights")
    for name in FLAGS.models:
        variables = trace_time.model_variables(name)
        sides = {label: timed_update(make, variables) for label, make in trace_time.ADAMWS}
        best = dict.fromkeys(sides, float("inf"))
        for _ in range(FLAGS.calls):
            for label, call in sides.items():
                started = time.perf_counter()
                call()
                best[label] = min(best[label], time.perf_counter() - started)
        size = sum(v.numpy().size for v in variables)
        for label, seconds in best.items():
            print(f"{name:<11} {size / 1e6:>9.1f}M  {label:<11} "
                  f"{1e3 * seconds / FLAGS.updates_per_call:>9.1f}  {4 * size / 1e6:>13.1f}",
                  flush=True)


if __name__ == "__main__":
    app.run(main)
