"""Parts the benchmarks share: the data file, the PaLM FLOP count and the
project's timed training loop.

Scripts run as `python benchmarks/NAME.py` have this folder first on
sys.path, so they `import benchlib` (BUILD gives the same with `imports`).

Example:
    >>> path = data_file("auto", workdir, task="mlm")    # SST-2 when ../shared exists
    >>> flops, non_embedding = palm_flops_per_token(backbone, 2, 128, width=64)
"""
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Real data sets in the project's shared folder (relative to the repo root),
#: used by `--data=auto`.
SHARED_DATA = {"mlm": "../shared/data/sst2/train.tsv",
               "clm": "../shared/data/tiny_shakespeare/input.txt"}
DATA_HELP = ("auto (the shared SST-2 or tiny-shakespeare file, else builtin), synthetic, "
             "builtin, or a path to a text/tsv file")
FLOP_NOTE = ("PaLM (Chowdhery et al. 2022, app. B): 6*N + 12*L*H*S per padded token, "
             "N the non-embedding parameters, L layers, H hidden size, S the mean padded "
             "width; the task head and embeddings are excluded")
LEARNING_RATE = 1e-4


def synthetic(path, lines=5000, seed=0):
    """Random-word lines of 8-60 words from a 3,000-word vocabulary."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    with open(path, "w") as handle:
        for _ in range(lines):
            handle.write(" ".join(rng.choices(words, k=rng.randint(8, 60))) + "\n")
    return path


def data_file(data, workdir, task="mlm"):
    """The file named by a --data value (see DATA_HELP); generated ones go to workdir."""
    if data == "auto":
        shared = os.path.normpath(os.path.join(ROOT, SHARED_DATA.get(task, SHARED_DATA["mlm"])))
        data = shared if os.path.exists(shared) else "builtin"
    if data == "synthetic":
        return synthetic(os.path.join(workdir, "synthetic.txt"))
    if data == "builtin":
        from zoo.data.builtin import write_corpus
        return write_corpus(os.path.join(workdir, "builtin.txt"), 4000)
    return data


def palm_flops_per_token(backbone, num_layers, hidden_dim, width):
    """(training FLOPs per padded token, non-embedding parameters); see FLOP_NOTE."""
    embedding = sum(v.numpy().size for v in backbone.weights if "embedding" in v.path)
    non_embedding = backbone.count_params() - embedding
    return 6 * non_embedding + 12 * num_layers * hidden_dim * width, non_embedding


def build_ours(config, workdir, strategy, steps):
    """The run (zoo.assembly), optimizer and global step as zoo-train makes them,
    with a warm-up of `steps` and decay over 10 * `steps`."""
    import tensorflow as tf

    from zoo.assembly import assemble
    from zoo.train.optimizer import create_optimizer
    with strategy.scope():
        run = assemble(config, workdir)
        optimizer = create_optimizer(LEARNING_RATE, 10 * steps, steps)
        optimizer.build(run.model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False,
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    return run, optimizer, step


def make_runner(strategy, run, optimizer, step, dataset, jit_compile=False):
    """The TaskRunner (orbit trainer) zoo-train runs, training on `dataset`;
    `runner.train(tf.constant(n))` runs n steps and returns the loop's logs."""
    from zoo.train.steps import TaskRunner, metric_names
    names = metric_names(run.task, run.model, next(iter(dataset)))
    return TaskRunner(strategy, run.task, run.model, optimizer, step, dataset, None, names,
                      jit_compile=jit_compile)


def time_ours(strategy, run, optimizer, step, dataset, warmup_steps, steps, jit_compile=False):
    """Runs `warmup_steps` (tracing, caches) then `steps` of the TaskRunner loop
    zoo-train runs; returns the timed loop's logs (steps_per_sec, tokens_per_sec,
    nonpad_tokens_per_sec, ...)."""
    import tensorflow as tf
    runner = make_runner(strategy, run, optimizer, step, dataset, jit_compile)
    if warmup_steps:
        runner.train(tf.constant(warmup_steps, tf.int32))
    return runner.train(tf.constant(steps, tf.int32))
