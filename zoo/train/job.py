"""Runs a training job from resolved options: checks, vocab, model, loop, export.

Every check that can fail runs before any model is built (zoo.train.checks for
the options, zoo.train.preparation for the data and vocab). Progress lines go
to stdout and, as JSON lines, to `<model_dir>/train_log.jsonl` and
`eval_log.jsonl`; TensorBoard summaries to `<model_dir>/train` and `/eval`.

SIGTERM (zoo.train.preemption) stops the job at the next boundary between its
phases, or at the end of a host loop in training, with exit code 0: the same
command then resumes, or redoes the phase that was cut short.

Example:
    >>> train_from_flags(default_options(model="bert_nano", train_steps=20))
    >>> train_from_flags(zoo.cli.train.train_options())   # after absl parsed the flags
"""
import contextlib
import dataclasses
import os
import time

from plugins import load_plugins_reporting
from plugins.task import ENCODER_DECODER
from zoo.data.pipeline.bucketing import check_bucketing
from zoo.data.formats.files import expand_paths
from zoo.data.formats.columns import DataError
from zoo.data.formats.readers import aligned_sources, check_readable
from zoo.data.pipeline.sharding import worker_files
from zoo.train.checks import (check_columns, check_lora, check_resume, check_resume_stream,
                              input_shards, lora_settings, validate_options)
from zoo.train.flag_domains import check_vocab_size
from zoo.train.distribute import (any_worker, create_strategy, is_chief, same_on_all_workers,
                                  split_cpu, worker_position, write_dir)
from zoo import fileio
from zoo.fileio import check_writable_dir
from zoo.run_config import RunConfig, load_run_config, save_run_config
from zoo.train import preemption
from zoo.train.options import TrainOptions, UsageError, default_options  # noqa: F401
from zoo.train.preparation import (check_task_rows, data_paths, prepare_vocab,
                                   write_builtin_corpus)


def resolve_config(opts):
    """The run configuration of `opts` before any data is read: the model config (the
    preset, an `--init_checkpoint` directory's config.json, `--model_overrides`) and
    the task and its config (`--task_config`); bad combinations raise UsageError."""
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
    if opts.init_checkpoint:
        from zoo.train.initialization import with_source_pooling
        task_config = with_source_pooling(task_config, opts.init_checkpoint)
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
    from zoo.data.tokenizers.encoders import VOCAB_FILES, resolve_kind
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


def check_tpu_input(opts, config):
    """A TPU's host must feed it from tf.data ops alone: training files that need
    the host's Python on every batch are refused, with the conversion to use."""
    from zoo.data.formats.native import host_python_reason
    train_paths = data_paths(opts, config.data_fields)[0]
    reason = train_paths and host_python_reason(train_paths, config.data_fields,
                                                opts.text_mode, opts.columns)
    if reason:
        raise UsageError(f"--strategy=tpu reads its training data with tf.data's own ops, "
                         f"but these files cannot be: {reason}. Convert them with zoo-prep "
                         "(zoo-prep --train_data=... --output=train.tfrecord, or train.tsv) "
                         "and train on the result")


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
    check_columns(columns, config.data_fields)
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
    removed at the end, but for their input positions (zoo.train.input_position).
    All restore from --model_dir: a file system all workers share.
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
    cluster = validate_options(opts)
    split_cpu(opts.cpu_replicas)
    load_plugins_reporting(opts.plugins)
    config = resolve_config(opts)
    check_vocab_size(opts, config)
    check_columns(opts.columns, config.data_fields)
    check_lora(opts, config)
    if opts.layer_lr_decay != 1.0 and config.family == ENCODER_DECODER:
        raise UsageError("--layer_lr_decay needs one stack of transformer layers (BERT, GPT); "
                         "T5 has an encoder and a decoder stack")
    if opts.strategy == "tpu":
        check_tpu_input(opts, config)
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
    with _one_writer(opts.model_dir, strategy), write_dir(opts.model_dir, strategy) as directory:
        logs = _train(opts, config, strategy, directory)
    # A barrier: the other workers wait for the chief's report and export, since the
    # coordination service takes a worker that leaves early for a crashed one.
    same_on_all_workers(strategy, "done")
    return logs


@contextlib.contextmanager
def _one_writer(model_dir, strategy):
    """The chief holds model_dir (zoo.run_lock) for the whole job; when another live
    process holds it, every worker stops before any work."""
    from zoo.run_lock import DirectoryLocked, claim
    refusal = None
    created = is_chief(strategy) and not fileio.exists(model_dir)
    with contextlib.ExitStack() as held:
        if created:  # (a run that fails its checks leaves no model_dir behind)
            held.callback(lambda: fileio.listdir(model_dir) or fileio.rmtree(model_dir))
        if is_chief(strategy):
            check_writable_dir(model_dir, "--model_dir")
            try:
                held.enter_context(claim(model_dir, "zoo-train"))
            except DirectoryLocked as error:
                refusal = error
        if any_worker(strategy)(refusal is not None):
            raise refusal or DirectoryLocked("the chief could not claim --model_dir (its log "
                                             "names the holder); every worker stops")
        yield


def _stopped(where, then="resume", logs=None):
    """The job's result when SIGTERM stops it between phases."""
    print(f"SIGTERM: stopped {where}; run the same command to {then}", flush=True)
    return {**(logs or {}), "preempted": where}


def _train(opts, config, strategy, directory):
    """Prepares data and vocab, trains, reports and exports; `directory` is where this
    worker writes (model_dir but on non-chief workers). Between phases, a SIGTERM to
    any worker stops all of them (one all-reduce under multi_worker)."""
    chief = is_chief(strategy)
    stop_all = any_worker(strategy)
    train_paths, eval_paths = data_paths(opts, config.data_fields)
    worker, workers = worker_position(strategy)
    check_resume_stream(opts, train_paths, workers)
    if chief:
        check_writable_dir(opts.model_dir, "--model_dir")
        if opts.export and opts.export_dir:
            check_writable_dir(opts.export_dir, "--export_dir")
    if train_paths is None:
        train_paths, eval_paths = write_builtin_corpus(directory)
    bad_data = None
    try:
        check_readable(train_paths + eval_paths, config.data_fields, opts.text_mode,
                       opts.columns)
        own = worker_files(train_paths, input_shards(opts, workers), worker, workers)
        check_task_rows(config, train_paths, eval_paths, opts.columns, own_train_paths=own)
    except preemption.Interrupted:
        pass  # stopped below, with the other workers
    except DataError as error:
        bad_data = error
    if stop_all(bad_data is not None):  # (a worker checks its own files: all stop)
        raise bad_data or DataError("another worker found malformed data in its training "
                                    "files (its log names the file and line); every "
                                    "worker stops")
    if stop_all(preemption.requested()):
        return _stopped("during or after the data checks, before the vocab")
    vocabulary_size = _vocab_chief_first(opts, config, train_paths, directory, chief, stop_all)
    if stop_all(preemption.requested()):
        return _stopped("after the vocab, before training")
    if config.model_config.get("vocabulary_size") == 0:
        config.model_config["vocabulary_size"] = vocabulary_size
    check_resume(opts, config)
    warmup = opts.warmup_steps if opts.warmup_steps >= 0 else opts.train_steps // 10
    config.training = {
        "train_data": train_paths, "eval_data": eval_paths,
        "global_batch_size": opts.global_batch_size, "train_steps": opts.train_steps,
        "learning_rate": opts.learning_rate, "warmup_steps": warmup, "decay": opts.decay,
        "optimizer": opts.optimizer,
        "weight_decay": opts.weight_decay, "adam_epsilon": opts.adam_epsilon,
        "clip_norm": opts.clip_norm, "seed": opts.seed,
        "strategy": opts.strategy, "replicas": strategy.num_replicas_in_sync,
        "shuffle_buffer": opts.shuffle_buffer, "init_checkpoint": opts.init_checkpoint,
        "freeze": opts.freeze, "layer_lr_decay": opts.layer_lr_decay,
        "precision": opts.precision, "grad_accum_steps": opts.grad_accum_steps,
        "batching": opts.batching, "jit_compile": opts.jit_compile,
        "input_shards": input_shards(opts, workers),
        **lora_settings(opts)}
    if opts.columns:  # (absent otherwise: config.json stays as before)
        config.training["columns"] = opts.columns
    if not same_on_all_workers(strategy, _fingerprint(opts, config, directory)):
        raise UsageError("the workers disagree on the run: start every worker with the same "
                         "flags and data (a vocab each worker trains must come out the same)")
    save_run_config(config, directory)
    _repair_chief_first(opts.model_dir, chief, stop_all)
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
        from zoo.disk_full import reporting_full_disk
        from zoo.serve.export import latest_version_dir
        with reporting_full_disk(export_dir, "the export",
                                 kept=lambda: latest_version_dir(export_dir)):
            path = export_model(opts.model_dir, export_dir)
        print(f"export: {path} ({time.time() - started:.1f}s)")
        if preemption.requested():
            print("SIGTERM: arrived during the export, which finished first", flush=True)
    return logs


def _vocab_chief_first(opts, config, train_paths, directory, chief, stop_all):
    """prepare_vocab on the chief, then on the other workers, which copy the chief's
    from the shared model_dir instead of sampling every file again (a worker that
    does not see it trains the same vocab itself). A failure on the chief stops all."""
    from zoo.disk_full import reporting_full_disk
    failure = None
    if chief:
        try:
            with reporting_full_disk(os.path.join(directory, config.vocab_file or ""),
                                     "the vocab"):
                size = prepare_vocab(opts, config, train_paths, directory)
        except Exception as error:  # pylint: disable=broad-except  (re-raised below)
            failure = error
    if stop_all(failure is not None):
        raise failure or UsageError("the chief could not prepare the vocab (its log says "
                                    "why); every worker stops")
    return size if chief else prepare_vocab(opts, config, train_paths, directory)


def _repair_chief_first(model_dir, chief, stop_all):
    """The chief sets damaged newest checkpoints aside (zoo.train.checkpoint_repair)
    before any worker restores; a model_dir whose checkpoints all fail stops all."""
    from zoo.train.checkpoint_repair import CheckpointError, repair_checkpoints
    failure = None
    if chief:
        try:
            repair_checkpoints(model_dir)
        except CheckpointError as error:
            failure = error
    if stop_all(failure is not None):
        raise failure or CheckpointError("the chief found no checkpoint of --model_dir that "
                                         "can be restored (its log says why); every worker "
                                         "stops")


def _report_missing(model_dir):
    """Whether a trained model_dir lacks its report (training logs but no report.html)."""
    return fileio.exists(os.path.join(model_dir, "train_log.jsonl")) and \
        not fileio.exists(os.path.join(model_dir, "report.html"))


def _latest_checkpoint(model_dir):
    """The basename of model_dir's latest checkpoint (`ckpt-300`), or ''."""
    import tensorflow as tf
    return os.path.basename(tf.train.latest_checkpoint(model_dir) or "")
