"""Times the tracing of two graphs every run builds, the project's against its peer's.

Every training run traces its train step, its tf.data pipelines and its
export signatures once, and every test of the suite runs training, so these
graphs are paid at each start:

- the optimizer update over a model's weights: the runtime's AdamW
  (zoo.train.optimizer), which builds the learning-rate schedule and Adam's
  bias corrections once per step, against Keras's AdamW, which builds them
  once per variable (same schedule, weight decay with LayerNorm and biases
  excluded, global-norm clipping);
- packing one or two segments of token ids into `[CLS] a [SEP] b [SEP]` rows:
  zoo.data.tokenizers.segment_packing against keras-hub's MultiSegmentPacker.

Traces each in a `tf.function` `--repeats` times per side and prints the ops
in the graph and the best wall and CPU seconds (all threads). Its numbers
are figures, not assertions.

    python benchmarks/trace_time.py --models=bert_nano,bert_mini,bert_base
"""
import time

from absl import app, flags

flags.DEFINE_list("models", ["bert_nano", "bert_mini", "bert_base"], "Registered models.")
flags.DEFINE_integer("repeats", 3, "Traces per side (best one printed).")
flags.DEFINE_integer("seq_len", 128, "Packed row length.")
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


#: The two updates compared, by label.
ADAMWS = (("keras AdamW", keras_adamw), ("zoo AdamW", zoo_adamw))


def model_variables(name):
    """The trainable variables of registered model `name` (vocabulary 8,000)."""
    import dataclasses

    from plugins import MODELS, load_plugins
    load_plugins()
    spec = MODELS.get(name)
    return spec.builder(dataclasses.replace(spec.config, vocabulary_size=8000)).trainable_variables


def trace(function, *specs):
    """(ops, best wall s, best CPU s) of tracing `function` for `specs`."""
    import tensorflow as tf
    best = None
    for _ in range(FLAGS.repeats):
        traced = tf.function(function, input_signature=list(specs), autograph=False)
        wall, cpu = time.perf_counter(), time.process_time()
        graph = traced.get_concrete_function().graph
        figures = (len(graph.get_operations()), time.perf_counter() - wall,
                   time.process_time() - cpu)
        best = figures if best is None or figures[2] < best[2] else best
    return best


def optimizer_update(optimizer, variables):
    import tensorflow as tf
    optimizer.build(variables)
    grads = [tf.zeros_like(v) for v in variables]
    return lambda: optimizer.apply(grads, variables)


def packing():
    import keras_hub
    import tensorflow as tf

    from zoo.data.tokenizers.segment_packing import pack_segments
    seq_len, segment = FLAGS.seq_len, tf.RaggedTensorSpec([None, None], tf.int32, 1)
    packer = keras_hub.layers.MultiSegmentPacker(sequence_length=seq_len, start_value=2,
                                                 end_value=3, pad_value=0)
    print(f"\npacking into rows of {seq_len}  ops  trace wall s  trace CPU s")
    for count in (1, 2):
        for label, pack in (("keras-hub packer", lambda *s: packer(s)),
                            ("zoo pack_segments", lambda *s: pack_segments(s, seq_len, 2, 3, 0))):
            ops, wall, cpu = trace(pack, *[segment] * count)
            print(f"{count} segment(s), {label:<17} {ops:>5}  {wall:>12.2f}  {cpu:>11.2f}",
                  flush=True)


def main(_):
    print("model       variables  optimizer    ops  trace wall s  trace CPU s")
    for name in FLAGS.models:
        variables = model_variables(name)
        for label, make in ADAMWS:
            ops, wall, cpu = trace(optimizer_update(make(), variables))
            print(f"{name:<11} {len(variables):>9}  {label:<11} {ops:>5}  {wall:>12.2f}  "
                  f"{cpu:>11.2f}", flush=True)
    packing()


if __name__ == "__main__":
    app.run(main)
