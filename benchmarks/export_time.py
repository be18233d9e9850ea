"""Times an export: the project's raw-text SavedModel against Keras's own export.

Trains a small model_dir first (`--train_steps` steps on the built-in corpus,
no export) unless `--model_dir` already holds a checkpoint, then, in this one
process, `--repeats` times each:

- `zoo`: `zoo.serve.export.export_model` (restore, the task's raw-text
  signatures plus `tokenize`, warm-up file, metadata), what zoo-export runs;
- `keras`: the same restored Keras model through `model.export(path,
  format="tf_saved_model")` (Keras's ExportArchive: one tensor-input `serve`
  signature, no tokenizer), the peer.

Prints wall and CPU seconds per export (the first, and the best of the rest:
the first pays for imports and caches) and the SavedModel size. CPU seconds
(all threads) vary less than wall time on a shared machine. It asserts nothing.

    python benchmarks/export_time.py --model=bert_nano --task=mlm
    python benchmarks/export_time.py --model=bert_tiny --task=classification --repeats=3
"""
import os
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("model", "bert_nano", "Model to export.")
flags.DEFINE_string("task", "mlm", "Task; classification trains on generated labels.")
flags.DEFINE_string("model_dir", "", "A trained model_dir; empty: train one in a temp dir.")
flags.DEFINE_integer("train_steps", 4, "Steps of the model_dir trained first.")
flags.DEFINE_integer("repeats", 3, "Exports per side.")
FLAGS = flags.FLAGS


def directory_mb(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path)
               for name in names) / 1e6


def train_model_dir(workdir):
    from zoo.data.builtin import write_corpus
    from zoo.train.job import default_options, train_from_flags
    model_dir = os.path.join(workdir, "run")
    data = write_corpus(os.path.join(workdir, "corpus.txt"), 400)
    if FLAGS.task == "classification":
        labelled = os.path.join(workdir, "train.tsv")
        with open(data) as source, open(labelled, "w") as target:
            target.write("text\tlabel\n")
            for index, line in enumerate(source):
                target.write(f"{line.strip()}\t{'ab'[index % 2]}\n")
        data = labelled
    train_from_flags(default_options(model=FLAGS.model, task=FLAGS.task, train_data=data,
                                     model_dir=model_dir, train_steps=FLAGS.train_steps,
                                     seq_len=64, global_batch_size=8, vocab_size=500,
                                     export=False))
    return model_dir


def keras_export(model_dir, path):
    import tensorflow as tf
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(model_dir), model_dir)
    tf.train.Checkpoint(model=run.model).restore(tf.train.latest_checkpoint(model_dir)) \
        .expect_partial()
    run.model.export(path, format="tf_saved_model", verbose=False)
    return path


def timed(label, export, repeats):
    walls, cpus, size = [], [], 0.0
    for index in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        path = export(index)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        size = directory_mb(path)
    best = min(range(1, repeats), key=lambda i: cpus[i]) if repeats > 1 else 0
    print(f"{label:6s} first {walls[0]:5.1f} s wall, {cpus[0]:5.1f} s CPU | best of the rest "
          f"{walls[best]:5.1f} s wall, {cpus[best]:5.1f} s CPU | {size:5.1f} MB")


def main(argv):
    del argv
    import zoo  # noqa: F401  (sets the Keras backend)
    from zoo.serve.export import export_model
    workdir = tempfile.mkdtemp(prefix="export-bench-")
    model_dir = FLAGS.model_dir or train_model_dir(workdir)
    print(f"model_dir {model_dir} ({FLAGS.model}, {FLAGS.task}); {os.cpu_count()} CPUs")
    timed("zoo", lambda i: export_model(model_dir, os.path.join(workdir, "zoo")), FLAGS.repeats)
    timed("keras", lambda i: keras_export(model_dir, os.path.join(workdir, f"keras{i}")),
          FLAGS.repeats)


if __name__ == "__main__":
    app.run(main)
