"""Evaluation of a trained model_dir on data files (`zoo-train --mode=eval`).

Rebuilds the run from its config.json, restores the latest checkpoint and
runs the task's evaluation (loss, metrics and corpus metrics such as BLEU or
perplexity) over the files once; prints and returns the results and appends
them to `<model_dir>/eval_log.jsonl` with the file names.

Example:
    zoo-train --mode=eval --model_dir=runs/ende \\
              --eval_data=multi30k/test_2016_flickr.en,multi30k/test_2016_flickr.de
"""
import json
import os
import time

import tensorflow as tf

from zoo import atomic_files, fileio
from zoo.assembly import assemble
from zoo.data.pipeline.stream import evaluation_dataset
from zoo.evaluate.averaging import last_checkpoints, restore_average
from zoo.run_config import load_run_config
from zoo.train.checkpoint_repair import latest_restorable
from zoo.train.steps import TaskRunner, metric_names


def evaluate_model_dir(model_dir, eval_paths, strategy, global_batch_size, steps=-1,
                       text_mode=None, checkpoint=None, decoding="", columns=None,
                       average_checkpoints=0):
    """Returns {metric: value} of a checkpoint of model_dir (default: the latest)
    on eval_paths; `decoding` overrides generative tasks' decoding options
    (e.g. `sampler=beam,num_beams=4`); `columns` (default: the run's --columns)
    maps fields to columns of the files. `average_checkpoints=N` (N > 1) scores the
    mean of the last N checkpoints ending at that one (zoo.evaluate.averaging)."""
    config = load_run_config(model_dir)
    checkpoint = checkpoint or latest_restorable(model_dir)
    if not checkpoint:
        raise FileNotFoundError(f"'{model_dir}' has no checkpoint to evaluate; train first")
    with strategy.scope():
        run = assemble(config, model_dir, decoding)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    dataset = evaluation_dataset(eval_paths, run.task, global_batch_size,
                                 config.training.get("seed", 0), text_mode or config.text_mode,
                                 config.training.get("columns", "") if columns is None
                                 else columns)
    names = metric_names(run.task, run.model, next(iter(dataset)))
    tf.train.Checkpoint(model=run.model, global_step=step).restore(checkpoint) \
        .expect_partial().assert_existing_objects_matched()
    averaged = last_checkpoints(model_dir, average_checkpoints, checkpoint) \
        if average_checkpoints > 1 else []
    if averaged:
        with strategy.scope():
            restore_average(run.model, averaged)
    runner = TaskRunner(strategy, run.task, run.model, None, step, None, dataset, names)
    started = time.time()
    results = {name: float(value) for name, value in runner.evaluate(steps).items()}
    record = {"step": int(step.numpy()), "time": time.time(), "checkpoint": checkpoint,
              "eval_data": list(eval_paths), "seconds": time.time() - started, **results}
    if decoding:
        record["decoding"] = decoding
    if averaged:
        record["averaged"] = [os.path.basename(p) for p in averaged]
    atomic_files.append_text(os.path.join(model_dir, "eval_log.jsonl"),
                       json.dumps(record, sort_keys=True) + "\n")
    return record


def evaluate_run(run, eval_paths, global_batch_size, seed=0, text_mode="line", steps=-1,
                 columns=None):
    """{metric: value} of `run.model` as it is in memory (e.g. after quantization),
    one pass over eval_paths under the default strategy; nothing is logged."""
    dataset = evaluation_dataset(eval_paths, run.task, global_batch_size, seed, text_mode,
                                 columns)
    names = metric_names(run.task, run.model, next(iter(dataset)))
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    runner = TaskRunner(tf.distribute.get_strategy(), run.task, run.model, None, step, None,
                        dataset, names)
    return {name: float(value) for name, value in runner.evaluate(steps).items()}
