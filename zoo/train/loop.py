"""Builds model, optimizer, datasets and the orbit controller, then trains.

Checkpoints hold the model, the optimizer and the global step; orbit restores
the latest one from model_dir on start, so a run resumes where it stopped and
a finished run does nothing more. Each worker reads its own input shards
(`zoo.data.pipeline.sharding`). When tf.data reads the training files itself
(`zoo.data.formats.native`), every checkpoint comes with each worker's input position
(`zoo.train.input_position`: the iterator's shuffle block, packing leftovers
and prefetched batches), and a resumed run reads on from there at once, at any
step. Otherwise (CSV with quotes, a carriage return inside a line; or no
position saved at that step for this worker, or one saved by a run that had
skipped: another pipeline) it skips the batches already trained on, which it
must read.

Example:
    >>> logs = run_training(opts, run_config, strategy, ["a.txt"], [], warmup=30)
"""
import contextlib
import logging as pylogging
import json
import math
import os
import time

import keras
import orbit
from absl import logging
import tensorflow as tf

from zoo.assembly import assemble
from zoo.disk_full import reporting_full_disk
from zoo.train.distribute import any_worker, worker_position
from zoo.train.input_position import (CheckpointsWithInput, position_dir, position_restores,
                                      restore_position, saved_position)
from zoo.train.freezing import count_parameters, freeze
from zoo.train.layer_lr import layer_lr_factors
from zoo.train.lora import describe, run_adapters, saved_settings
from zoo.train.initialization import initialize_backbone
from zoo.data.formats.native import reads_natively
from zoo.data.pipeline.stream import evaluation_dataset, training_dataset
from zoo.data.pipeline.sharding import describe_shards, worker_files
from zoo.train import preemption
from zoo.train.optimizer import create_optimizer
from zoo.train.precision import dtype_policy, with_loss_scaling
from zoo.train.steps import TaskRunner, jit_compile_off_reason, metric_names

# orbit prints every log line to stdout as well; keep them in the absl log only,
# since this module prints its own one-line progress.
orbit.controller._log = logging.info


class _QuietAfterSigterm(pylogging.Filter):
    """Drops orbit's warning that a host loop did not advance global_step by
    steps_per_loop, once SIGTERM ended that loop early on purpose."""

    def filter(self, record):
        return not (preemption.requested() and
                    "did not update `global_step`" in record.getMessage())


@contextlib.contextmanager
def _quiet_after_sigterm():
    quiet = _QuietAfterSigterm()
    logging.get_absl_logger().addFilter(quiet)
    try:
        yield
    finally:
        logging.get_absl_logger().removeFilter(quiet)


def _append_json(path, record):
    from zoo.atomic_files import append_text
    append_text(path, json.dumps(record, sort_keys=True) + "\n")


def _format(logs):
    parts = []
    for name, value in logs.items():
        if name.endswith("tokens_per_sec"):
            parts.append(f"{name.replace('_per_sec', '/s')} {value:,.0f}")
        elif name == "learning_rate":
            parts.append(f"lr {value:.2e}")
        elif name == "steps_per_sec":
            parts.append(f"steps/s {value:.2f}")
        elif name == "loss_scale":
            parts.append(f"loss scale {value:g}")
        elif name == "skipped_steps":
            parts.append(f"skipped {value:.0f}")
        else:
            parts.append(f"{name} {value:.4f}")
    return " | ".join(parts)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""


class Preempted(Exception):
    """SIGTERM arrived; a checkpoint was saved after the step it stopped at."""


def checkpoint_step(model_dir):
    """Global step of the latest checkpoint in model_dir (0 when there is none)."""
    latest = tf.train.latest_checkpoint(model_dir)
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def random_states(model):
    """The state variables of the model's Keras seed generators (dropout), in layer
    order, so checkpoints resume the same random draws."""
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [generator.state.value for layer in layers
            for generator in getattr(layer, "_seed_generators", [])]


def _last_good(manager):
    latest = manager.latest_checkpoint
    return f"The last good checkpoint is kept: {latest}" if latest else \
        "No checkpoint was saved before it."


def run_training(opts, config, strategy, train_paths, eval_paths, warmup_steps,
                 directory=None):
    """Trains to opts.train_steps; returns the last train/eval logs ({} if nothing ran).

    Checkpoints, summaries and logs go to `directory` (default opts.model_dir;
    a non-chief worker's temporary write_dir, holding the vocab too); a run
    resumes from the latest checkpoint in opts.model_dir.

    SIGTERM (to any worker; see zoo.train.preemption) saves a checkpoint after the
    current step (on every worker) or evaluation and returns {'preempted': step}, as
    does one that arrived before training started (without saving); a NaN/Inf loss raises
    NonFiniteLossError without saving.
    With opts.nan_policy == 'skip' such steps apply no update (see zoo.train.steps)
    and are counted, in the checkpoint too; more than opts.max_skipped_steps of
    them in the whole run raise NonFiniteLossError.
    """
    nan_policy, max_skipped = opts.nan_policy, opts.max_skipped_steps
    precision, jit_compile = opts.precision, opts.jit_compile
    if jit_compile and jit_compile_off_reason(strategy):
        print(f"--jit_compile is off: {jit_compile_off_reason(strategy)}")
        jit_compile = False
    directory = directory or opts.model_dir
    resume_from = tf.train.latest_checkpoint(opts.model_dir)
    keras.utils.set_random_seed(opts.seed)
    with strategy.scope():
        with dtype_policy(precision):  # the training model only; exports are float32
            run = assemble(config, directory, adapters=False)  # (LoRA: after the init)
        optimizer = with_loss_scaling(create_optimizer(
            opts.learning_rate, opts.train_steps, warmup_steps, opts.decay, opts.weight_decay,
            epsilon=opts.adam_epsilon, clip_norm=opts.clip_norm, name=opts.optimizer), precision)
        freeze(run.backbone, opts.freeze)
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        skipped_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    worker, workers = worker_position(strategy)
    shards = config.training.get("input_shards", 1)
    resumed_step = checkpoint_step(opts.model_dir)
    saves_position = reads_natively(worker_files(train_paths, shards, worker, workers),
                                    config.data_fields, opts.text_mode, opts.columns)
    position = saved_position(opts.model_dir, resumed_step, worker, workers) \
        if saves_position and resume_from else None

    def stream(start_batch):
        return training_dataset(train_paths, run.task, opts.global_batch_size, opts.seed,
                                opts.text_mode, opts.shuffle_buffer, start_batch=start_batch,
                                batching=opts.batching, columns=opts.columns,
                                input_shards=shards, worker=worker, workers=workers)
    train_ds = stream(0 if position or not resume_from else resumed_step)
    if position and not position_restores(train_ds, position):
        # (a position saved by a run that had skipped to its batch: another pipeline)
        print(f"the input position {position} does not restore into this pipeline; "
              f"skipping to batch {resumed_step} instead")
        position, train_ds = None, stream(resumed_step)
    if shards > 1:
        print(describe_shards(train_paths, shards, worker, workers))
    eval_ds = evaluation_dataset(eval_paths, run.task, opts.global_batch_size, opts.seed,
                                 opts.text_mode, opts.columns) if eval_paths else None
    names = metric_names(run.task, run.model, next(iter(train_ds)))
    if opts.init_checkpoint and not resume_from:
        report = initialize_backbone(run.backbone, run.model, opts.init_checkpoint,
                                     config.family, opts.allow_partial_restore)
        print(report.summary())
    with strategy.scope():  # LoRA adapters once the init copied the weights (by their order)
        adapted = run_adapters(run.backbone, config.training)
        trainable, total = count_parameters(run.model)
        optimizer.build(run.model.trainable_variables)
        if opts.layer_lr_decay != 1.0:  # on AdamW, inside float16's LossScaleOptimizer
            getattr(optimizer, "inner_optimizer", optimizer).scale_learning_rates(
                layer_lr_factors(run.model, run.backbone, opts.layer_lr_decay))
    print(f"model {config.model}: {total:,} parameters ({trainable:,} trainable); task "
          f"{config.task}; {strategy.num_replicas_in_sync} replica(s) "
          f"({type(strategy).__name__})")
    if adapted:
        lora = saved_settings(config.training)
        print(describe(adapted, lora["lora_rank"], lora["lora_alpha"], trainable, total))
    # SIGTERM ends the in-graph host loop after the current step (under multi_worker
    # on every worker at once: TaskRunner or-s the flag over them), but on TPUs.
    stop_flag = None if isinstance(strategy, tf.distribute.TPUStrategy) else \
        tf.Variable(False, trainable=False, name="sigterm")
    runner = TaskRunner(strategy, run.task, run.model, optimizer, global_step, train_ds,
                        eval_ds, names, nan_policy=nan_policy, skipped_steps=skipped_steps,
                        accum_steps=opts.grad_accum_steps,
                        jit_compile=jit_compile, stop_flag=stop_flag)
    if position:
        restore_position(runner.input_iterator, position)
    checkpoint = tf.train.Checkpoint(model=run.model, optimizer=optimizer,
                                     global_step=global_step, skipped_steps=skipped_steps,
                                     random_states=random_states(run.model))
    manager = CheckpointsWithInput(
        checkpoint, directory, runner.input_iterator if saves_position else None,
        position_dir(opts.model_dir, worker, workers), max_to_keep=opts.keep_checkpoints,
        step_counter=global_step, checkpoint_interval=opts.checkpoint_every)
    final, last_step, skipped = {}, [resumed_step], [0]
    stop_all = any_worker(strategy)
    budget, loops = preemption.GraceBudget(opts.grace_period), [0]

    def stop_if_terminated(step):
        """Every worker saves (collectively) and stops if any received SIGTERM."""
        if stop_all(preemption.requested()):
            path = manager.save(checkpoint_number=step, check_interval=False) or \
                manager.latest_checkpoint  # (None: this step is saved already)
            print(f"SIGTERM{'' if preemption.requested() else ' (to another worker)'}: saved "
                  f"{path}; run the same command to resume", flush=True)
            raise Preempted(step)

    def on_train(logs):
        step = int(global_step.numpy())
        loops[0] += 1
        if step == last_step[0]:  # SIGTERM before the loop's first step
            stop_if_terminated(step)
        record = {k: float(v) for k, v in logs.items()}
        if loops[0] > 1 and record.get("steps_per_sec"):  # (the first loop traces the step)
            budget.timed(1.0 / record["steps_per_sec"], manager.save_seconds)
        new_skips = int(skipped_steps.numpy()) - skipped[0]
        skipped[0] += new_skips
        if new_skips:
            print(f"skipped {new_skips} step(s) with a NaN/Inf loss or gradient in steps "
                  f"{last_step[0] + 1}-{step} ({skipped[0]} in this run, "
                  f"--max_skipped_steps={max_skipped})", flush=True)
            if skipped[0] > max_skipped:
                raise NonFiniteLossError(
                    f"{skipped[0]} steps had a NaN/Inf loss or gradient, more than "
                    f"--max_skipped_steps={max_skipped}; training stopped at step {step}. "
                    f"{_last_good(manager)}")
        if new_skips < step - last_step[0]:  # some steps were applied: log them
            if not math.isfinite(record["loss"]):
                raise NonFiniteLossError(
                    f"the loss is {record['loss']} in steps {last_step[0] + 1}-{step}; "
                    f"training stopped. {_last_good(manager)}")
            if new_skips:
                record["skipped_steps"] = float(new_skips)
            final["train"] = record
            _append_json(os.path.join(directory, "train_log.jsonl"),
                         {"step": step, "time": time.time(), **record})
            print(f"step {step}/{opts.train_steps} | {_format(record)}", flush=True)
        last_step[0] = step
        stop_if_terminated(step)

    def on_eval(logs):
        step = int(global_step.numpy())
        record = {k: float(v) for k, v in logs.items()}
        final["eval"] = record
        _append_json(os.path.join(directory, "eval_log.jsonl"),
                     {"step": step, "time": time.time(), **record})
        print(f"eval step {step} | {_format(record)}", flush=True)
        stop_if_terminated(step)

    controller = orbit.Controller(
        strategy=strategy, trainer=runner, evaluator=runner if eval_ds else None,
        global_step=global_step, steps_per_loop=opts.steps_per_loop,
        checkpoint_manager=manager, summary_dir=os.path.join(directory, "train"),
        eval_summary_dir=os.path.join(directory, "eval"),
        summary_interval=opts.steps_per_loop, train_actions=[on_train],
        eval_actions=[on_eval])
    if resume_from and directory != opts.model_dir:
        # orbit restored from `directory` (empty): restore the chief's checkpoint the
        # way orbit does (in the scope), so the workers' collectives stay in step.
        controller.restore_checkpoint(resume_from)
    start_step = int(global_step.numpy())
    skipped[0] = int(skipped_steps.numpy())  # as restored from the checkpoint
    if start_step:
        print(f"resumed from {resume_from} at step {start_step}; input "
              f"{'restored from ' + position if position else 'skipped to that batch'}")
    if start_step >= opts.train_steps:
        print(f"already trained to step {start_step} (--train_steps={opts.train_steps}); "
              "nothing to do")
        return final
    stop_in_graph = preemption.on_request(lambda: stop_flag.assign(True)) \
        if stop_flag is not None else contextlib.nullcontext()
    with preemption.sigterm_stops(), stop_in_graph, _quiet_after_sigterm():
        if stop_all(preemption.requested()):  # arrived while the model was being built
            print(f"SIGTERM: stopped before training step {start_step + 1}; run the same "
                  "command to resume", flush=True)
            return {"preempted": start_step}
        try:
            with reporting_full_disk(directory, "the logs, summaries or checkpoints",
                                     kept=lambda: manager.latest_checkpoint):
                if eval_ds is not None:
                    controller.train_and_evaluate(opts.train_steps, opts.eval_steps,
                                                  opts.eval_every or None)
                else:
                    controller.train(opts.train_steps)
        except Preempted as stop:
            return {"preempted": stop.args[0]}
    print(f"checkpoint: {manager.latest_checkpoint}")
    return final
