"""Runs a training job from resolved options: checks, vocab, model, loop, export.

Every check that can fail runs before any model is built. Progress lines go
to stdout and, as JSON lines, to `<model_dir>/train_log.jsonl` and
`eval_log.jsonl`; TensorBoard summaries to `<model_dir>/train` and `/eval`.

Example:
    >>> from absl import flags
    >>> train_from_flags(flags.FLAGS)   # after absl has parsed the zoo-train flags
"""
import dataclasses
import os
import time

from plugins.task import ENCODER_DECODER
from zoo.cli.common import UsageError, load_plugins_reporting
from zoo.data import builtin
from zoo.data.bucketing import BATCHINGS, check_bucketing
from zoo.data.files import expand_paths
from zoo.data.readers import aligned_sources, check_readable, iter_rows, read_examples
from zoo.train.distribute import (create_strategy, is_chief, resolve_cluster, same_on_all_workers,
                            split_cpu, write_dir)
from zoo.fileio import check_writable_dir
from zoo.run_config import RunConfig, config_differences, load_run_config, save_run_config


def _resolve_config(opts):
    from plugins import MODELS, apply_overrides
    from zoo.assembly import resolve_task
    spec = MODELS.get(opts.model)
    model_config = apply_overrides(spec.config, opts.model_overrides)
    max_len = getattr(model_config, "max_sequence_length", None)
    if max_len and opts.seq_len > max_len:
        raise UsageError(f"--seq_len={opts.seq_len} exceeds the position table of "
                         f"'{opts.model}' (max_sequence_length={max_len})")
    from plugins import TASKS
    task_class = TASKS.get(opts.task)
    config = RunConfig(model=opts.model, family=spec.family,
                       model_config=dataclasses.asdict(model_config), task=opts.task,
                       task_config={}, seq_len=opts.seq_len, lowercase=opts.lowercase,
                       data_fields=(), text_mode=opts.text_mode,
                       plugins=tuple(opts.plugins))
    try:
        task_class.check_family(opts.model, spec.family)
        if getattr(opts, "batching", "plain") == "bucket":
            check_bucketing(task_class)
    except ValueError as error:
        raise UsageError(str(error)) from None
    task_config = apply_overrides(task_class.config_class(), opts.task_config)
    config.task_config = dataclasses.asdict(task_config)
    config.data_fields = tuple(task_class.fields_for(task_config))
    _resolve_tokenizer(opts, config)
    resolve_task(config)
    if opts.init_checkpoint and not opts.allow_partial_restore:
        from zoo.train.initialization import check_compatible
        check_compatible(opts.init_checkpoint, spec.family, config.model_config)
    return config


def _resolve_tokenizer(opts, config):
    """Sets the run's tokenizer kind and file: --tokenizer, or (auto) the one of
    --init_checkpoint's run, or the family's default."""
    from zoo.data.encoders import VOCAB_FILES, resolve_kind
    kind = opts.tokenizer
    if opts.init_checkpoint:
        from zoo.train.initialization import source_kind
        source, directory = source_kind(opts.init_checkpoint)
        inherited = load_run_config(directory).tokenizer if source == "run" else "wordpiece"
        if kind not in ("auto", inherited):
            raise UsageError(f"--tokenizer={kind} differs from the '{inherited}' tokenizer of "
                             f"--init_checkpoint={opts.init_checkpoint}")
        kind = inherited
    try:
        config.tokenizer = resolve_kind(kind, config.family)
    except ValueError as error:
        raise UsageError(str(error)) from None
    config.vocab_file = VOCAB_FILES[config.tokenizer]


def _rows(paths, fields, text_mode):
    for path in paths:
        for line, row in iter_rows(path, fields, text_mode):
            yield path, line, row


def _check_task_rows(config, train_paths, eval_paths):
    """Lets the task learn from (e.g. the label set) and check every row, host side."""
    from zoo.assembly import resolve_task
    task_class, task_config = resolve_task(config)
    if not task_class.checks_rows():
        return
    task_config = task_class.prepare(
        task_config, _rows(train_paths, config.data_fields, config.text_mode))
    config.task_config = dataclasses.asdict(task_config)
    truncated = 0
    for path, line, row in _rows(train_paths + eval_paths, config.data_fields,
                                 config.text_mode):
        task_class.check_row(task_config, path, line, row)
        # Every word is at least one token: more words than fit is surely truncated.
        truncated += sum(len(row[f].split()) for f in ("text", "text_b") if f in row) > \
            config.seq_len - 2 - ("text_b" in row)
    if truncated:
        print(f"data check: {truncated} example(s) have more words than fit in "
              f"--seq_len={config.seq_len}; they will be truncated (words are counted, "
              "so more may be)")


def _data_paths(opts, fields):
    """Expands --train_data/--eval_data (missing files fail here) and aligns plain
    text files of multi-field tasks (train.en,train.de); None: built-in corpus."""
    if not opts.train_data:
        if opts.eval_data:
            raise UsageError("--eval_data needs --train_data")
        return None, None
    evaluation = aligned_sources(expand_paths(opts.eval_data), fields) if opts.eval_data else []
    return aligned_sources(expand_paths(opts.train_data), fields), evaluation


def _write_builtin_corpus(model_dir):
    train = builtin.write_corpus(os.path.join(model_dir, "builtin_train.txt"), 4000, 0)
    evaluation = builtin.write_corpus(os.path.join(model_dir, "builtin_eval.txt"), 200, 1)
    print(f"no --train_data: training on the built-in corpus {train}")
    return [train], [evaluation]


def _prepare_vocab(opts, config, train_paths, directory):
    """Puts the run's tokenizer file in `directory` (this worker's write_dir): that
    of model_dir on resume, copied from --vocab or --init_checkpoint, or trained
    from the training texts. Returns the vocabulary size."""
    from zoo.data.encoders import load_encoder, texts_of, train_tokenizer
    from zoo.fileio import atomic_copy

    def load(path):
        return load_encoder(config.tokenizer, path, config.seq_len, config.lowercase,
                            config.family)
    if not config.vocab_file:
        return load("").vocabulary_size
    path = os.path.join(directory, config.vocab_file)
    kept = os.path.join(opts.model_dir, config.vocab_file)
    if kept != path and os.path.exists(kept):  # a non-chief worker resuming
        atomic_copy(kept, path)
    if os.path.exists(path):
        if opts.vocab and load(opts.vocab).vocabulary != load(path).vocabulary:
            raise UsageError(f"--vocab={opts.vocab} differs from the vocab this model_dir "
                             f"was trained with ({path})")
        return load(path).vocabulary_size
    given = opts.vocab
    if not given and opts.init_checkpoint:
        from zoo.train.initialization import source_vocab
        given = source_vocab(opts.init_checkpoint)
        print(f"vocab: {given} (from --init_checkpoint)")
    if given:
        try:
            load(given)
        except (ValueError, OSError) as error:
            raise UsageError(f"--vocab={given} is not a usable {config.tokenizer} "
                             f"vocabulary: {error}") from None
        atomic_copy(given, path)
        return load(path).vocabulary_size
    print(f"training a {config.tokenizer} vocab of up to {opts.vocab_size} tokens from "
          f"{len(train_paths)} file(s)...")
    from plugins import TASKS
    fields = [f for f in config.data_fields if f in TASKS.get(config.task).text_fields]
    texts = texts_of(read_examples(train_paths, config.data_fields, opts.text_mode), fields)
    size = train_tokenizer(config.tokenizer, texts, opts.vocab_size, path, opts.lowercase,
                           config.family)
    print(f"vocab: {size} tokens -> {path}")
    return size


def _check_resume(opts, config):
    if not os.path.exists(os.path.join(opts.model_dir, "config.json")):
        return
    from zoo.train.precision import uses_loss_scaling
    saved = load_run_config(opts.model_dir)
    # --precision is a training option, but loss scaling changes the optimizer's
    # checkpoint layout (LossScaleOptimizer wraps AdamW's state).
    before = saved.training.get("precision", "float32")
    after = getattr(opts, "precision", "float32")
    if uses_loss_scaling(before) != uses_loss_scaling(after):
        raise UsageError(f"'{opts.model_dir}' was trained with --precision={before}; resuming "
                         f"with --precision={after} would change the optimizer state "
                         "(loss scaling is float16's only). Use the same float16 setting or a "
                         "new --model_dir.")
    differences = config_differences(saved, config)
    if differences:
        raise UsageError(
            f"'{opts.model_dir}' holds a run with another configuration; refusing to resume "
            f"it. Differences (saved -> requested): {'; '.join(differences)}. Use a new "
            "--model_dir.")


def _validate(opts):
    for name in ("train_steps", "global_batch_size", "seq_len", "steps_per_loop",
                 "checkpoint_every"):
        if getattr(opts, name) <= 0:
            raise UsageError(f"--{name} must be positive, got {getattr(opts, name)}")
    if not 0.0 < opts.layer_lr_decay <= 1.0:
        raise UsageError(f"--layer_lr_decay must be in (0, 1], got {opts.layer_lr_decay}")
    if getattr(opts, "grad_accum_steps", 1) < 1:
        raise UsageError(f"--grad_accum_steps must be at least 1, got {opts.grad_accum_steps}")
    from zoo.train.precision import check_precision
    try:
        check_precision(getattr(opts, "precision", "float32"))
    except ValueError as error:
        raise UsageError(f"--precision: {error}") from None
    if getattr(opts, "batching", "plain") not in BATCHINGS:
        raise UsageError(f"--batching must be one of {', '.join(BATCHINGS)}, got "
                         f"'{opts.batching}'")
    if opts.cpu_replicas > 1 and opts.strategy not in ("auto", "mirrored"):
        raise UsageError("--cpu_replicas needs --strategy=mirrored")
    if opts.tpu and opts.strategy != "tpu":
        raise UsageError("--tpu needs --strategy=tpu")
    cluster = _cluster(opts)
    if opts.init_checkpoint:
        from zoo.train.initialization import source_kind
        source_kind(opts.init_checkpoint)  # fails now if it is not a usable source
    return cluster


def _cluster(opts):
    """The multi_worker cluster (None for other strategies); bad cluster flags fail here."""
    if opts.strategy != "multi_worker":
        if opts.worker_hosts or opts.task_index >= 0:
            raise UsageError("--worker_hosts and --task_index need --strategy=multi_worker")
        return None
    try:
        return resolve_cluster(opts.worker_hosts, opts.task_index,
                               os.environ.get("TF_CONFIG"))
    except ValueError as error:
        raise UsageError(str(error)) from None


def _create_strategy(opts, cluster=None):
    try:
        return create_strategy(opts.strategy, opts.num_gpus, cluster, opts.tpu)
    except ValueError as error:
        raise UsageError(str(error)) from None


def default_options(**overrides):
    """zoo-train's flag defaults as an object, with `overrides` applied.

    Example:
        >>> train_from_flags(default_options(model="bert_nano", train_steps=20))
    """
    import types

    from absl import flags

    import zoo.cli.train  # noqa: F401  (defines the flags)
    values = {name: flags.FLAGS[name].default for name in flags.FLAGS
              if flags.FLAGS.find_module_defining_flag(name, "").startswith("zoo.cli")}
    unknown = set(overrides) - set(values)
    if unknown:
        raise UsageError(f"unknown zoo-train options: {', '.join(sorted(unknown))}")
    values.update(overrides)
    return types.SimpleNamespace(**values)


def evaluate_from_flags(opts):
    """--mode=eval: evaluates the latest checkpoint of --model_dir on --eval_data."""
    from zoo.evaluate.evaluation import evaluate_model_dir
    if not opts.eval_data:
        raise UsageError("--mode=eval needs --eval_data")
    if opts.strategy == "multi_worker":
        raise UsageError("--mode=eval runs in one process; --strategy=multi_worker is for "
                         "training")
    config = load_run_config(opts.model_dir)
    load_plugins_reporting(list(config.plugins))
    split_cpu(opts.cpu_replicas)
    paths = aligned_sources(expand_paths(opts.eval_data), config.data_fields)
    check_readable(paths, config.data_fields, config.text_mode)
    strategy = _create_strategy(opts)
    record = evaluate_model_dir(opts.model_dir, paths, strategy, opts.global_batch_size,
                                opts.eval_steps)
    shown = " | ".join(f"{k} {v:.4f}" for k, v in record.items()
                       if k not in ("step", "time", "checkpoint", "eval_data", "seconds"))
    print(f"eval {record['checkpoint']} on {', '.join(paths)} ({record['seconds']:.1f}s)\n"
          f"{shown}")
    return {"eval": record}


def _fingerprint(opts, config, directory):
    """What every worker of a multi_worker run must agree on: the run configuration
    (data files by name: the built-in corpus is in each worker's own directory),
    the tokenizer file and the loop's schedule of collective steps and saves."""
    import hashlib
    training = dict(config.training)
    for key in ("train_data", "eval_data"):
        training[key] = [os.path.basename(path) for path in training[key]]
    vocab = ""
    if config.vocab_file:
        with open(os.path.join(directory, config.vocab_file), "rb") as handle:
            vocab = hashlib.sha256(handle.read()).hexdigest()
    schedule = {name: getattr(opts, name) for name in (
        "steps_per_loop", "checkpoint_every", "eval_every", "eval_steps", "nan_policy",
        "max_skipped_steps")}
    return dataclasses.replace(config, training=training).to_json() + vocab + repr(schedule)


def train_from_flags(opts):
    """Trains (or resumes) as the flags say; returns the final train and eval logs.

    Under --strategy=multi_worker every worker runs this; only the chief writes
    into --model_dir (and --export_dir), the others into a temporary directory
    removed at the end. All restore from --model_dir: a file system all workers
    share.
    """
    if getattr(opts, "mode", "train") == "eval":
        return evaluate_from_flags(opts)
    cluster = _validate(opts)
    split_cpu(opts.cpu_replicas)
    load_plugins_reporting(opts.plugins)
    config = _resolve_config(opts)
    if opts.layer_lr_decay != 1.0 and config.family == ENCODER_DECODER:
        raise UsageError("--layer_lr_decay needs one stack of transformer layers (BERT, GPT); "
                         "T5 has an encoder and a decoder stack")
    strategy = _create_strategy(opts, cluster)
    replicas = strategy.num_replicas_in_sync
    if opts.global_batch_size % replicas:
        raise UsageError(f"--global_batch_size={opts.global_batch_size} is not divisible by "
                         f"the {replicas} replicas of --strategy={opts.strategy}")
    accum = getattr(opts, "grad_accum_steps", 1)
    if opts.global_batch_size % (replicas * accum):
        raise UsageError(f"--global_batch_size={opts.global_batch_size} is not divisible by "
                         f"{replicas} replica(s) x --grad_accum_steps={accum}: each replica "
                         "splits its share into that many equal micro-batches")
    with write_dir(opts.model_dir, strategy) as directory:
        logs = _train(opts, config, strategy, directory)
    # A barrier: the other workers wait for the chief's report and export, since the
    # coordination service takes a worker that leaves early for a crashed one.
    same_on_all_workers(strategy, "done")
    return logs


def _train(opts, config, strategy, directory):
    """Prepares data and vocab, trains, reports and exports; `directory` is where this
    worker writes (model_dir but on non-chief workers)."""
    chief = is_chief(strategy)
    train_paths, eval_paths = _data_paths(opts, config.data_fields)
    if chief:
        check_writable_dir(opts.model_dir, "--model_dir")
        if opts.export and opts.export_dir:
            check_writable_dir(opts.export_dir, "--export_dir")
    if train_paths is None:
        train_paths, eval_paths = _write_builtin_corpus(directory)
    check_readable(train_paths + eval_paths, config.data_fields, opts.text_mode)
    _check_task_rows(config, train_paths, eval_paths)
    vocabulary_size = _prepare_vocab(opts, config, train_paths, directory)
    if config.model_config.get("vocabulary_size") == 0:
        config.model_config["vocabulary_size"] = vocabulary_size
    _check_resume(opts, config)
    warmup = opts.warmup_steps if opts.warmup_steps >= 0 else opts.train_steps // 10
    config.training = {
        "train_data": train_paths, "eval_data": eval_paths,
        "global_batch_size": opts.global_batch_size, "train_steps": opts.train_steps,
        "learning_rate": opts.learning_rate, "warmup_steps": warmup, "decay": opts.decay,
        "optimizer": getattr(opts, "optimizer", "adamw"),
        "weight_decay": opts.weight_decay, "clip_norm": opts.clip_norm, "seed": opts.seed,
        "strategy": opts.strategy, "replicas": strategy.num_replicas_in_sync,
        "shuffle_buffer": opts.shuffle_buffer, "init_checkpoint": opts.init_checkpoint,
        "freeze": opts.freeze, "layer_lr_decay": opts.layer_lr_decay,
        "precision": getattr(opts, "precision", "float32"),
        "grad_accum_steps": getattr(opts, "grad_accum_steps", 1),
        "batching": getattr(opts, "batching", "plain"),
        "jit_compile": getattr(opts, "jit_compile", False)}
    if not same_on_all_workers(strategy, _fingerprint(opts, config, directory)):
        raise UsageError("the workers disagree on the run: start every worker with the same "
                         "flags and data (a vocab each worker trains must come out the same)")
    save_run_config(config, directory)
    from zoo.train.loop import run_training
    logs = run_training(opts, config, strategy, train_paths, eval_paths, warmup, directory)
    if "preempted" in logs or not chief:
        return logs
    if logs:
        from zoo.evaluate.report import write_report
        print(f"report: {write_report(opts.model_dir)}")
    if opts.export:
        from zoo.serve.export import export_model, next_version
        export_dir = opts.export_dir or os.path.join(opts.model_dir, "export")
        if not logs and next_version(export_dir) > 1:
            print(f"export: unchanged, nothing was trained ({export_dir})")
            return logs
        started = time.time()
        path = export_model(opts.model_dir, export_dir)
        print(f"export: {path} ({time.time() - started:.1f}s)")
    return logs
