"""Runs a training job from resolved options: checks, vocab, model, loop, export.

Every check that can fail runs before any model is built. Progress lines go
to stdout and, as JSON lines, to `<model_dir>/train_log.jsonl` and
`eval_log.jsonl`; TensorBoard summaries to `<model_dir>/train` and `/eval`.

SIGTERM (zoo.train.preemption) stops the job at the next boundary between its
phases, or at the end of a host loop in training, with exit code 0: the same
command then resumes, or redoes the phase that was cut short.

Example:
    >>> train_from_flags(default_options(model="bert_nano", train_steps=20))
    >>> train_from_flags(zoo.cli.train.train_options())   # after absl parsed the flags
"""
import dataclasses
import os
import time

from plugins import load_plugins_reporting
from plugins.task import ENCODER_DECODER
from zoo.data import builtin
from zoo.data.bucketing import BATCHINGS, check_bucketing
from zoo.data.files import expand_paths
from zoo.data.readers import (aligned_sources, check_filled, check_readable, file_format,
                              iter_rows, read_examples)
from zoo.train.distribute import (any_worker, create_strategy, is_chief, resolve_cluster,
                                  same_on_all_workers, split_cpu, write_dir)
from zoo import fileio
from zoo.fileio import check_writable_dir
from zoo.run_config import RunConfig, config_differences, load_run_config, save_run_config
from zoo.train import preemption
from zoo.train.options import TrainOptions, UsageError, default_options  # noqa: F401

#: The built-in corpus's files in model_dir (training without --train_data).
BUILTIN_TRAIN, BUILTIN_EVAL = "builtin_train.txt", "builtin_eval.txt"
#: Training settings that fix the order of the training stream, as config.json's
#: `training` holds them (with the value of configs that lack one): a resumed run
#: skips the batches it trained on, so they must not change.
STREAM_SETTINGS = {"train_data": None, "global_batch_size": None, "seed": None,
                   "shuffle_buffer": None, "batching": "plain"}


def _resolve_config(opts):
    from plugins import MODELS, apply_overrides
    from zoo.assembly import resolve_task
    spec = MODELS.get(opts.model)
    base = spec.config
    if opts.init_checkpoint:  # a Hugging Face directory gives the sizes (config.json)
        from zoo.train.initialization import source_model_config
        base = source_model_config(opts.init_checkpoint, spec, base)
    model_config = apply_overrides(base, opts.model_overrides)
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
    except ValueError as error:
        raise UsageError(str(error)) from None
    task_config = apply_overrides(task_class.config_class(), opts.task_config)
    if opts.batching == "bucket":
        try:
            check_bucketing(task_class, task_config)
        except ValueError as error:
            raise UsageError(str(error)) from None
    minimum = task_class.min_seq_len_for(task_config)
    if opts.seq_len < minimum:
        raise UsageError(f"--seq_len={opts.seq_len} leaves no room for task '{opts.task}': it "
                         f"needs at least {minimum} (its special tokens plus one token of text)")
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
        if source == "hf":  # the checkpoint's own tokenizer (and BERT's do_lower_case)
            from zoo.train.initialization import source_tokenizer
            inherited, lowercase = source_tokenizer(opts.init_checkpoint)
            config.lowercase = config.lowercase if lowercase is None else lowercase
        if kind not in ("auto", inherited):
            raise UsageError(f"--tokenizer={kind} differs from the '{inherited}' tokenizer of "
                             f"--init_checkpoint={opts.init_checkpoint}")
        kind = inherited
    try:
        config.tokenizer = resolve_kind(kind, config.family)
    except ValueError as error:
        raise UsageError(str(error)) from None
    config.vocab_file = VOCAB_FILES[config.tokenizer]


def _rows(paths, fields, text_mode, required=(), texts=(), columns=None):
    """(path, line, row) of every row; an empty field of `required` fails."""
    for path in paths:
        for line, row in iter_rows(path, fields, text_mode, columns=columns):
            preemption.check()  # SIGTERM ends the data checks here
            check_filled(path, line, row, required, texts)
            yield path, line, row


def _check_task_rows(config, train_paths, eval_paths, columns=None):
    """Lets the task learn from (e.g. the label set) and check every row, host side.
    Tasks without row checks still have their files read through, but for plain
    text (whose blank lines are no rows): a malformed or empty field anywhere
    fails now, not in the middle of training."""
    from zoo.assembly import resolve_task
    task_class, task_config = resolve_task(config)
    required = [f for f in config.data_fields if f not in task_class.empty_allowed(task_config)]

    def rows(paths):
        return _rows(paths, config.data_fields, config.text_mode, required,
                     task_class.text_fields, columns)
    if not task_class.checks_rows():
        for _ in rows([p for p in train_paths + eval_paths if file_format(p) != "text"]):
            pass
        return
    task_config = task_class.prepare(task_config, rows(train_paths))
    config.task_config = dataclasses.asdict(task_config)
    truncated = 0
    for path, line, row in rows(train_paths + eval_paths):
        task_class.check_row(task_config, path, line, row)
        # Every word is at least one token: more words than fit is surely truncated.
        truncated += sum(len(row[f].split()) for f in ("text", "text_b") if f in row) > \
            config.seq_len - 2 - ("text_b" in row)
    if truncated:
        print(f"data check: {truncated} example(s) have more words than fit in "
              f"--seq_len={config.seq_len}; they will be truncated (words are counted, "
              "so more may be)")
    for warning in task_class.data_warnings(task_config, rows(train_paths), rows(eval_paths)):
        print(f"data check: {warning}")


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
    train = builtin.write_corpus(os.path.join(model_dir, BUILTIN_TRAIN), 4000, 0)
    evaluation = builtin.write_corpus(os.path.join(model_dir, BUILTIN_EVAL), 200, 1)
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
    if kept != path and fileio.exists(kept):  # a non-chief worker resuming
        atomic_copy(kept, path)
    if fileio.exists(path):
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
    texts = texts_of(read_examples(train_paths, config.data_fields, opts.text_mode,
                                   opts.columns), fields)
    size = train_tokenizer(config.tokenizer, texts, opts.vocab_size, path, opts.lowercase,
                           config.family)
    print(f"vocab: {size} tokens -> {path}")
    return size


def _check_resume(opts, config):
    if not fileio.exists(os.path.join(opts.model_dir, "config.json")):
        return
    from zoo.train.precision import uses_loss_scaling
    saved = load_run_config(opts.model_dir)
    # --precision is a training option, but loss scaling changes the optimizer's
    # checkpoint layout (LossScaleOptimizer wraps AdamW's state).
    before = saved.training.get("precision", "float32")
    after = opts.precision
    if uses_loss_scaling(before) != uses_loss_scaling(after):
        raise UsageError(f"'{opts.model_dir}' was trained with --precision={before}; resuming "
                         f"with --precision={after} would change the optimizer state "
                         "(loss scaling is float16's only). Use the same float16 setting or a "
                         "new --model_dir.")
    differences = config_differences(saved, config)
    from zoo.train.lora import saved_settings
    lora_before, lora_after = saved_settings(saved.training), _lora_settings(opts)
    differences += [f"--{key}: {lora_before[key]!r} -> {lora_after[key]!r}"
                    for key in lora_after if lora_before[key] != lora_after[key]]
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
    if opts.grad_accum_steps < 1:
        raise UsageError(f"--grad_accum_steps must be at least 1, got {opts.grad_accum_steps}")
    from zoo.train.precision import check_precision
    try:
        check_precision(opts.precision)
    except ValueError as error:
        raise UsageError(f"--precision: {error}") from None
    if opts.batching not in BATCHINGS:
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


def _lora_settings(opts):
    """--lora_rank, --lora_alpha and --lora_targets as config.json's `training` keeps them."""
    from zoo.train.lora import settings
    return settings(opts.lora_rank, opts.lora_alpha, opts.lora_targets)


def _check_lora(opts, config):
    """The --lora_* flags, before any work: a rank or alpha below 0, LoRA flags without
    a rank, --freeze beside LoRA, or a --lora_targets part that matches no layer
    (the backbone is built once, with a vocabulary of 8, to list its layers)."""
    from zoo.train.lora import LoraError, select
    if opts.lora_rank < 0 or opts.lora_alpha < 0:
        raise UsageError(f"--lora_rank and --lora_alpha must be >= 0, got {opts.lora_rank} "
                         f"and {opts.lora_alpha}")
    if not opts.lora_rank:
        if opts.lora_alpha or opts.lora_targets != "attention":
            raise UsageError("--lora_alpha and --lora_targets need --lora_rank (LoRA is off)")
        return
    if opts.freeze:
        raise UsageError(f"--freeze={opts.freeze} and --lora_rank do not combine: LoRA "
                         "freezes the whole backbone but its adapters already; to adapt only "
                         "some layers, name them in --lora_targets")
    from plugins import MODELS
    spec = MODELS.get(config.model)
    sizes = dict(config.model_config)
    if "vocabulary_size" in sizes:
        sizes["vocabulary_size"] = 8
    try:
        select(spec.builder(type(spec.config)(**sizes)), opts.lora_targets)
    except LoraError as error:
        raise UsageError(str(error)) from None


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


def _check_columns(columns, fields):
    """--columns must parse and map only fields the task reads."""
    from zoo.data.readers import check_columns
    try:
        check_columns(columns, fields)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _create_strategy(opts, cluster=None):
    try:
        return create_strategy(opts.strategy, opts.num_gpus, cluster, opts.tpu)
    except ValueError as error:
        raise UsageError(str(error)) from None


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
    columns = opts.columns or config.training.get("columns", "")
    _check_columns(columns, config.data_fields)
    check_readable(paths, config.data_fields, config.text_mode, columns)
    strategy = _create_strategy(opts)
    record = evaluate_model_dir(opts.model_dir, paths, strategy, opts.global_batch_size,
                                opts.eval_steps, columns=columns)
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
        vocab = hashlib.sha256(
            fileio.read_bytes(os.path.join(directory, config.vocab_file))).hexdigest()
    schedule = {name: getattr(opts, name) for name in (
        "steps_per_loop", "checkpoint_every", "eval_every", "eval_steps", "nan_policy",
        "max_skipped_steps")}
    return dataclasses.replace(config, training=training).to_json() + vocab + repr(schedule)


def train_from_flags(opts):
    """Trains (or resumes) as `opts` (TrainOptions) say; returns the final train and eval
    logs, with `preempted` (the step or the phase) when SIGTERM stopped the job.

    Under --strategy=multi_worker every worker runs this; only the chief writes
    into --model_dir (and --export_dir), the others into a temporary directory
    removed at the end. All restore from --model_dir: a file system all workers
    share.
    """
    if not isinstance(opts, TrainOptions):
        raise TypeError(f"train_from_flags takes TrainOptions (default_options(...), or "
                        f"zoo.cli.train.train_options() from parsed flags), not "
                        f"{type(opts).__name__}")
    with preemption.sigterm_stops():
        if opts.mode == "eval":
            logs = evaluate_from_flags(opts)
            if preemption.requested():
                print("SIGTERM: arrived during the evaluation, which finished first",
                      flush=True)
            return logs
        return _train_job(opts)


def _train_job(opts):
    cluster = _validate(opts)
    split_cpu(opts.cpu_replicas)
    load_plugins_reporting(opts.plugins)
    config = _resolve_config(opts)
    _check_columns(opts.columns, config.data_fields)
    _check_lora(opts, config)
    if opts.layer_lr_decay != 1.0 and config.family == ENCODER_DECODER:
        raise UsageError("--layer_lr_decay needs one stack of transformer layers (BERT, GPT); "
                         "T5 has an encoder and a decoder stack")
    strategy = _create_strategy(opts, cluster)
    replicas = strategy.num_replicas_in_sync
    if opts.global_batch_size % replicas:
        raise UsageError(f"--global_batch_size={opts.global_batch_size} is not divisible by "
                         f"the {replicas} replicas of --strategy={opts.strategy}")
    accum = opts.grad_accum_steps
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


def _stopped(where, then="resume", logs=None):
    """The job's result when SIGTERM stops it between phases."""
    print(f"SIGTERM: stopped {where}; run the same command to {then}", flush=True)
    return {**(logs or {}), "preempted": where}


def _check_resume_stream(opts, train_paths):
    """Refuses to resume a model_dir with settings that order the training stream
    differently (its files, batch size, seed, shuffling, batching, text mode): the
    resumed run skips the batches already trained on, which must be the same ones.
    `train_paths` None: the built-in corpus (in model_dir)."""
    if not fileio.exists(os.path.join(opts.model_dir, "config.json")):
        return
    saved = load_run_config(opts.model_dir)
    if train_paths is None:
        train_paths = [os.path.join(opts.model_dir, BUILTIN_TRAIN)]
    requested = {"train_data": list(train_paths), "global_batch_size": opts.global_batch_size,
                 "seed": opts.seed, "shuffle_buffer": opts.shuffle_buffer,
                 "batching": opts.batching}
    differences = []
    for name, missing in STREAM_SETTINGS.items():
        before = saved.training.get(name, missing)
        if name == "train_data" and before is not None:
            same = [fileio.normalize(p) for p in before] == \
                [fileio.normalize(p) for p in requested[name]]
        else:
            same = before is None or before == requested[name]
        if not same:
            differences.append(f"--{name}: {before!r} -> {requested[name]!r}")
    if saved.training.get("columns", "") != opts.columns:
        differences.append(f"--columns: {saved.training.get('columns', '')!r} -> "
                           f"{opts.columns!r}")
    if saved.text_mode != opts.text_mode:
        differences.append(f"--text_mode: {saved.text_mode!r} -> {opts.text_mode!r}")
    if differences:
        raise UsageError(
            f"'{opts.model_dir}' holds a run whose training stream these options would order "
            "differently; refusing to resume it (a resumed run skips the batches it already "
            f"trained on). Differences (saved -> requested): {'; '.join(differences)}. Use "
            "the saved values or a new --model_dir.")


def _train(opts, config, strategy, directory):
    """Prepares data and vocab, trains, reports and exports; `directory` is where this
    worker writes (model_dir but on non-chief workers). Between phases, a SIGTERM to
    any worker stops all of them (one all-reduce under multi_worker)."""
    chief = is_chief(strategy)
    stop_all = any_worker(strategy)
    train_paths, eval_paths = _data_paths(opts, config.data_fields)
    _check_resume_stream(opts, train_paths)
    if chief:
        check_writable_dir(opts.model_dir, "--model_dir")
        if opts.export and opts.export_dir:
            check_writable_dir(opts.export_dir, "--export_dir")
    if train_paths is None:
        train_paths, eval_paths = _write_builtin_corpus(directory)
    try:
        check_readable(train_paths + eval_paths, config.data_fields, opts.text_mode,
                       opts.columns)
        _check_task_rows(config, train_paths, eval_paths, opts.columns)
    except preemption.Interrupted:
        pass  # stopped below, with the other workers
    if stop_all(preemption.requested()):
        return _stopped("during or after the data checks, before the vocab")
    vocabulary_size = _prepare_vocab(opts, config, train_paths, directory)
    if stop_all(preemption.requested()):
        return _stopped("after the vocab, before training")
    if config.model_config.get("vocabulary_size") == 0:
        config.model_config["vocabulary_size"] = vocabulary_size
    _check_resume(opts, config)
    warmup = opts.warmup_steps if opts.warmup_steps >= 0 else opts.train_steps // 10
    config.training = {
        "train_data": train_paths, "eval_data": eval_paths,
        "global_batch_size": opts.global_batch_size, "train_steps": opts.train_steps,
        "learning_rate": opts.learning_rate, "warmup_steps": warmup, "decay": opts.decay,
        "optimizer": opts.optimizer,
        "weight_decay": opts.weight_decay, "clip_norm": opts.clip_norm, "seed": opts.seed,
        "strategy": opts.strategy, "replicas": strategy.num_replicas_in_sync,
        "shuffle_buffer": opts.shuffle_buffer, "init_checkpoint": opts.init_checkpoint,
        "freeze": opts.freeze, "layer_lr_decay": opts.layer_lr_decay,
        "precision": opts.precision, "grad_accum_steps": opts.grad_accum_steps,
        "batching": opts.batching, "jit_compile": opts.jit_compile,
        **_lora_settings(opts)}
    if opts.columns:  # (absent otherwise: config.json stays as before)
        config.training["columns"] = opts.columns
    if not same_on_all_workers(strategy, _fingerprint(opts, config, directory)):
        raise UsageError("the workers disagree on the run: start every worker with the same "
                         "flags and data (a vocab each worker trains must come out the same)")
    save_run_config(config, directory)
    from zoo.train.loop import run_training
    logs = run_training(opts, config, strategy, train_paths, eval_paths, warmup, directory)
    if "preempted" in logs or not chief:
        return logs
    # Only the chief goes on (the others wait at the barrier): no collective stops.
    if logs or _report_missing(opts.model_dir):  # (also when a SIGTERM stopped before it)
        if preemption.requested():  # arrived as training ended
            return _stopped("after training, before the report", "finish", logs)
        from zoo.evaluate import report
        try:  # the report is a convenience: its failure must not cost the export
            print(f"report: {report.write_report(opts.model_dir)}")
        except Exception as error:  # pylint: disable=broad-except
            print(f"warning: no report ({type(error).__name__}: {error}); zoo-report "
                  f"--model_dir={opts.model_dir} retries it", flush=True)
    if opts.export:
        from zoo.serve.export import export_model, exported_checkpoint
        export_dir = opts.export_dir or os.path.join(opts.model_dir, "export")
        latest = _latest_checkpoint(opts.model_dir)
        if not logs and latest and exported_checkpoint(export_dir) == latest:
            print(f"export: unchanged, nothing was trained ({export_dir})")
            return logs
        if preemption.requested():
            return _stopped("after training, before the export", "export", logs)
        started = time.time()
        path = export_model(opts.model_dir, export_dir)
        print(f"export: {path} ({time.time() - started:.1f}s)")
        if preemption.requested():
            print("SIGTERM: arrived during the export, which finished first", flush=True)
    return logs


def _report_missing(model_dir):
    """Whether a trained model_dir lacks its report (training logs but no report.html)."""
    return fileio.exists(os.path.join(model_dir, "train_log.jsonl")) and \
        not fileio.exists(os.path.join(model_dir, "report.html"))


def _latest_checkpoint(model_dir):
    """The basename of model_dir's latest checkpoint (`ckpt-300`), or ''."""
    import tensorflow as tf
    return os.path.basename(tf.train.latest_checkpoint(model_dir) or "")
