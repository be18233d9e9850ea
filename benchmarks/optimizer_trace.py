"""Times the tracing of one optimizer update over a model's weights: the
runtime's AdamW (zoo.train.optimizer) against Keras's own AdamW, the peer.

Every training run traces its train step once, and every test of the suite
runs training, so the graph the update adds is paid at each start. Keras
builds the learning-rate schedule and Adam's bias corrections once per
variable; the runtime builds them once per step. Both get the same schedule,
weight decay (LayerNorm and biases excluded) and global-norm clipping.

For each model, traces `optimizer.apply` in a `tf.function` `--repeats`
times per side and prints the ops in the graph and the best wall and CPU
seconds (all threads). Its numbers are figures, not assertions.

    python benchmarks/optimizer_trace.py --models=bert_nano,bert_mini,bert_base
"""
import time

from absl import app, flags

flags.DEFINE_list("models", ["bert_nano", "bert_mini", "bert_base"], "Registered models.")
flags.DEFINE_integer("repeats", 3, "Traces per side (best one printed).")
FLAGS = flags.FLAGS


def keras_adamw():
    import keras

    from zoo.train.optimizer import WarmupDecay
    optimizer = keras.optimizers.AdamW(learning_rate=WarmupDecay(1e-3, 100, 1000),
                                       weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def zoo_adamw():
    from zoo.train.optimizer import create_optimizer
    return create_optimizer(1e-3, 1000, 100)


def trace(optimizer, variables):
    """(ops, best wall s, best CPU s) of tracing one update of `variables`."""
    import tensorflow as tf
    optimizer.build(variables)
    grads = [tf.zeros_like(v) for v in variables]
    best = None
    for _ in range(FLAGS.repeats):
        step = tf.function(lambda: optimizer.apply(grads, variables), autograph=False)
        wall, cpu = time.perf_counter(), time.process_time()
        graph = step.get_concrete_function().graph
        figures = (len(graph.get_operations()), time.perf_counter() - wall,
                   time.process_time() - cpu)
        best = figures if best is None or figures[2] < best[2] else best
    return best


def main(_):
    import dataclasses

    from plugins import MODELS, load_plugins
    load_plugins()
    print("model       variables  optimizer    ops  trace wall s  trace CPU s")
    for name in FLAGS.models:
        spec = MODELS.get(name)
        backbone = spec.builder(dataclasses.replace(spec.config, vocabulary_size=8000))
        variables = backbone.trainable_variables
        for label, make in (("keras AdamW", keras_adamw), ("zoo AdamW", zoo_adamw)):
            ops, wall, cpu = trace(make(), variables)
            print(f"{name:<11} {len(variables):>9}  {label:<11} {ops:>5}  {wall:>12.2f}  "
                  f"{cpu:>11.2f}", flush=True)


if __name__ == "__main__":
    app.run(main)
