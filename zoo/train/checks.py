"""Checks of a training job's options that fail before any work, with the flag
named: ranges and combinations, the multi_worker cluster, LoRA and --columns,
and, when model_dir already holds a run, that resuming it changes neither its
configuration nor the order of its training stream.

Example:
    >>> cluster = validate_options(opts)          # UsageError: --train_steps must be positive
    >>> check_resume(opts, config)                # UsageError: ... Differences (saved -> ...
"""
import os

from zoo import fileio
from zoo.data.pipeline.bucketing import BATCHINGS
from zoo.run_config import config_differences, load_run_config
from zoo.train.distribute import resolve_cluster
from zoo.train.flag_domains import check_domains
from zoo.train.options import TrainOptions, UsageError
from zoo.train.preparation import BUILTIN_TRAIN, vocab_sample_bytes

#: Training settings that fix the order of the training stream, as config.json's
#: `training` holds them (with the value of configs that lack one): a resumed run
#: skips the batches it trained on, so they must not change.
STREAM_SETTINGS = {"train_data": None, "global_batch_size": None, "seed": None,
                   "shuffle_buffer": None, "batching": "plain", "input_shards": 1}


def validate_options(opts):
    """Ranges and combinations of the options; returns the multi_worker cluster (or None)."""
    check_domains(opts)
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
    if opts.optimizer != "adamw" and opts.adam_epsilon != TrainOptions.adam_epsilon:
        raise UsageError(f"--adam_epsilon needs --optimizer=adamw, got --optimizer={opts.optimizer}")
    vocab_sample_bytes(opts.vocab_sample)  # fails now if it is no size
    cluster = _cluster(opts)
    _check_input_shards(opts, cluster.workers if cluster else 1)
    if opts.init_checkpoint:
        from zoo.train.initialization import source_kind
        source_kind(opts.init_checkpoint)  # fails now if it is not a usable source
    return cluster


def _check_input_shards(opts, workers):
    if opts.input_shards < 0:
        raise UsageError(f"--input_shards must be 0 (one per worker) or positive, got "
                         f"{opts.input_shards}")
    shards = input_shards(opts, workers)
    if shards % workers:
        raise UsageError(f"--input_shards={shards} cannot be split evenly among the "
                         f"{workers} workers: give a multiple of {workers}")
    if opts.global_batch_size % shards:
        raise UsageError(f"--global_batch_size={opts.global_batch_size} is not divisible by "
                         f"{shards} input shards (--input_shards; 0: one per worker): each "
                         "shard gives an equal part of every batch")


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


def lora_settings(opts):
    """--lora_rank, --lora_alpha and --lora_targets as config.json's `training` keeps them."""
    from zoo.train.lora import settings
    return settings(opts.lora_rank, opts.lora_alpha, opts.lora_targets)


def check_lora(opts, config):
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


def check_columns(columns, fields):
    """--columns must parse and map only fields the task reads."""
    from zoo.data.formats.readers import check_columns
    try:
        check_columns(columns, fields)
    except ValueError as error:
        raise UsageError(str(error)) from None


def check_resume(opts, config):
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
    lora_before, lora_after = saved_settings(saved.training), lora_settings(opts)
    differences += [f"--{key}: {lora_before[key]!r} -> {lora_after[key]!r}"
                    for key in lora_after if lora_before[key] != lora_after[key]]
    if differences:
        raise UsageError(
            f"'{opts.model_dir}' holds a run with another configuration; refusing to resume "
            f"it. Differences (saved -> requested): {'; '.join(differences)}. Use a new "
            "--model_dir.")


def input_shards(opts, workers):
    """The run's number of input shards: --input_shards, or one per worker."""
    return opts.input_shards or workers


def check_resume_stream(opts, train_paths, workers=1):
    """Refuses to resume a model_dir with settings that order the training stream
    differently (its files, batch size, seed, shuffling, batching, input shards, text
    mode): the
    resumed run skips the batches already trained on, which must be the same ones.
    `train_paths` None: the built-in corpus (in model_dir)."""
    if not fileio.exists(os.path.join(opts.model_dir, "config.json")):
        return
    saved = load_run_config(opts.model_dir)
    if train_paths is None:
        train_paths = [os.path.join(opts.model_dir, BUILTIN_TRAIN)]
    requested = {"train_data": list(train_paths), "global_batch_size": opts.global_batch_size,
                 "seed": opts.seed, "shuffle_buffer": opts.shuffle_buffer,
                 "batching": opts.batching, "input_shards": input_shards(opts, workers)}
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
