"""Training throughput of the project's own step, on synthetic or real text.

Runs the same TaskRunner/orbit loop as zoo-train (after a warm-up loop that
includes tracing) and prints steps/s, tokens/s (padded and non-padding),
model FLOP/s and the input pipeline's own rate. Figures only; nothing asserts.

Model FLOPs per token follow the PaLM paper (Chowdhery et al. 2022, app. B):
6*N + 12*L*H*S, with N the non-embedding parameters, L layers, H the hidden
size and S the mean padded width of the batches. The task head (for MLM, the 6*H*V
projection per masked token) is not counted, nor is the difference between
the mean width and sum(S^2)/sum(S) when widths vary.

Example:
    python benchmarks/train_throughput.py --model=bert_tiny --data=builtin --steps=30
    python benchmarks/train_throughput.py --data=../shared/data/tiny_shakespeare/input.txt
    python benchmarks/train_throughput.py --strategy=mirrored --cpu_replicas=2
    python benchmarks/train_throughput.py --data=auto --batching=bucket   # length bucketing
"""
import os
import shutil
import tempfile
import time

from absl import app, flags

import benchlib

flags.DEFINE_string("model", "bert_tiny", "Registered model name.")
flags.DEFINE_string("task", "mlm", "Registered task name (text-only tasks).")
flags.DEFINE_string("data", "builtin", benchlib.DATA_HELP + ".")
flags.DEFINE_integer("steps", 30, "Timed steps (after one warm-up loop of the same length).")
flags.DEFINE_integer("global_batch_size", 32, "Examples per step.")
flags.DEFINE_integer("seq_len", 128, "Maximum tokens per example.")
flags.DEFINE_enum("strategy", "one_device", ["one_device", "mirrored"], "Strategy.")
flags.DEFINE_integer("cpu_replicas", 1, "Logical CPU devices for --strategy=mirrored.")
flags.DEFINE_enum("batching", "plain", ["plain", "bucket"], "zoo-train's --batching: plain, "
                  "or bucket (examples of similar length share a batch).")
flags.DEFINE_integer("vocab_size", 8000, "WordPiece vocab trained from the data.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.cpu_replicas > 1 and FLAGS.strategy != "mirrored":
        raise app.UsageError("--cpu_replicas needs --strategy=mirrored")
    if FLAGS.global_batch_size % FLAGS.cpu_replicas:
        raise app.UsageError("--global_batch_size must be divisible by --cpu_replicas")
    from zoo.train.distribute import create_strategy, split_cpu
    split_cpu(FLAGS.cpu_replicas)
    import dataclasses

    from plugins import MODELS, TASKS, load_plugins
    from zoo.data.pipeline.stream import training_dataset
    from zoo.data.formats.readers import read_examples
    from zoo.data.tokenizers.wordpiece import train_wordpiece_vocab
    from zoo.run_config import RunConfig

    load_plugins()
    workdir = tempfile.mkdtemp(prefix="zoo-bench-")
    path = benchlib.data_file(FLAGS.data, workdir, FLAGS.task)
    spec, task_class = MODELS.get(FLAGS.model), TASKS.get(FLAGS.task)
    fields = task_class.fields_for(task_class.config_class())
    texts = read_examples([path], fields).map(lambda example: example["text"])
    vocab = train_wordpiece_vocab(texts, FLAGS.vocab_size, os.path.join(workdir, "vocab.txt"))
    model_config = dataclasses.replace(spec.config, vocabulary_size=len(vocab))
    config = RunConfig(model=FLAGS.model, family=spec.family,
                       model_config=dataclasses.asdict(model_config), task=FLAGS.task,
                       task_config={}, seq_len=FLAGS.seq_len, data_fields=fields)
    strategy = create_strategy(FLAGS.strategy)
    run, optimizer, step = benchlib.build_ours(config, workdir, strategy, FLAGS.steps)
    dataset = training_dataset([path], run.task, FLAGS.global_batch_size,
                               batching=FLAGS.batching)

    iterator = iter(dataset)
    next(iterator)  # fills the shuffle buffer
    started = time.time()
    for _ in range(FLAGS.steps):
        next(iterator)
    pipeline_rate = FLAGS.steps / (time.time() - started)

    # warm-up loop of the same length: tracing, caches
    logs = benchlib.time_ours(strategy, run, optimizer, step, dataset, FLAGS.steps, FLAGS.steps)

    tokens_per_sec = logs["tokens_per_sec"]
    width = tokens_per_sec / (logs["steps_per_sec"] * FLAGS.global_batch_size)
    flops_per_token, non_embedding = benchlib.palm_flops_per_token(
        run.backbone, model_config.num_layers, model_config.hidden_dim, width)
    print(f"model {FLAGS.model} ({run.model.count_params():,} params, {non_embedding:,} "
          f"non-embedding), task {FLAGS.task}, data {FLAGS.data}, {FLAGS.batching} batching, "
          f"strategy {FLAGS.strategy} "
          f"x{strategy.num_replicas_in_sync}, batch {FLAGS.global_batch_size}, mean width "
          f"{width:.0f}")
    print(f"steps/s              {logs['steps_per_sec']:.2f}")
    print(f"tokens/s (padded)    {tokens_per_sec:,.0f}")
    print(f"tokens/s (effective) {logs['nonpad_tokens_per_sec']:,.0f}")
    real = logs["nonpad_tokens_per_sec"] / tokens_per_sec  # independent of the machine's load
    print(f"padding fraction     {1 - real:.3f} (per row: {width:.1f} padded width, "
          f"{width * real:.1f} non-padding tokens)")
    print(f"model FLOP/s         {flops_per_token * tokens_per_sec / 1e9:,.2f} GFLOP/s "
          "(PaLM: 6*N_non_embedding + 12*L*H*S per padded token; head excluded)")
    print(f"input pipeline       {pipeline_rate:,.1f} batches/s alone")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
