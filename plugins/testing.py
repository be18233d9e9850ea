"""Conformance kit: one call that checks a task plugin end to end.

For every registered `*_nano` model of a family the task accepts, it checks
that `preprocess` runs in tf.data and in a traced function, trains a few
steps with falling loss, exports, reloads the SavedModel and calls every
signature with raw strings (the task's `warmup_inputs`), and, given rows the
task must refuse, that they fail naming file and line.

Example (in a plugin author's own test):
    from plugins.testing import check_task_plugin

    def test_my_task(tmp_path):
        check_task_plugin("my_task", train_data="tests/data/train.tsv",
                          workdir=str(tmp_path), bad_data="tests/data/bad.tsv")
"""
import json
import os

import tensorflow as tf


class ConformanceError(AssertionError):
    pass


def _require(condition, message):
    if not condition:
        raise ConformanceError(message)


def _check_preprocess(model_dir):
    """preprocess must run in tf.data and inside a traced tf.function."""
    from zoo.assembly import assemble
    from zoo.data.pipeline import evaluation_dataset
    from zoo.data.readers import read_examples
    from zoo.run_config import load_run_config
    config = load_run_config(model_dir)
    run = assemble(config, model_dir)
    paths = config.training["train_data"]
    features, _, _ = next(iter(evaluation_dataset(paths, run.task, 4,
                                                  text_mode=config.text_mode)))
    _require(tf.nest.flatten(features), "preprocess returned no features")
    raw = next(iter(read_examples(paths, run.task.data_fields, config.text_mode).batch(4)))
    traced = tf.function(lambda examples: run.task.preprocess(
        examples, seed=tf.constant([0, 1], tf.int64)))
    traced_features, _, _ = traced(raw)
    _require(tf.nest.map_structure(lambda t: t.dtype, traced_features) ==
             tf.nest.map_structure(lambda t: t.dtype, features),
             "preprocess gives other dtypes when traced")
    return run


def _check_signatures(export_path, task):
    loaded = tf.saved_model.load(export_path)
    _require("serving_default" in loaded.signatures, "the export has no serving_default")
    inputs = task.warmup_inputs()
    for name, signature in loaded.signatures.items():
        wanted = signature.structured_input_signature[1]
        for key, spec in wanted.items():
            _require(spec.dtype == tf.string, f"signature '{name}' input '{key}' is "
                     f"{spec.dtype.name}, not a raw string")
        missing = set(wanted) - set(inputs)
        _require(not missing, f"warmup_inputs() gives no value for '{name}' inputs {missing}")
        outputs = signature(**{key: tf.constant(inputs[key]) for key in wanted})
        for key, value in outputs.items():
            _require(value.shape[0] == len(inputs["text"]),
                     f"signature '{name}' output '{key}' has no batch dimension")
    return sorted(loaded.signatures)


def check_task_plugin(task_name, train_data, workdir, task_config="", bad_data=None,
                      steps=40, models=None, **train_options):
    """Runs the conformance checks; returns {model: {"signatures": [...], ...}}.

    Raises ConformanceError (an AssertionError) naming the first failed check.
    """
    from plugins import MODELS, TASKS, load_plugins
    from zoo.data.readers import DataError
    from zoo.train.job import default_options, train_from_flags
    load_plugins(train_options.pop("plugins", ()))
    task_class = TASKS.get(task_name)
    models = models or [name for name, spec in MODELS.items()
                        if name.endswith("_nano") and spec.family in task_class.families]
    _require(models, f"no nano model of the families {task_class.families} is registered")
    options = dict(seq_len=32, global_batch_size=8, steps_per_loop=max(steps // 4, 1),
                   learning_rate=2e-3, vocab_size=400, task_config=task_config,
                   train_steps=steps, shuffle_buffer=100)
    options.update(train_options)
    report = {}
    for model in models:
        model_dir = os.path.join(workdir, f"{task_name}-{model}")
        train_from_flags(default_options(model=model, task=task_name, train_data=train_data,
                                         model_dir=model_dir, **options))
        with open(os.path.join(model_dir, "train_log.jsonl"), encoding="utf-8") as handle:
            losses = [json.loads(line)["loss"] for line in handle]
        _require(len(losses) >= 2 and losses[-1] < losses[0],
                 f"{task_name} on {model}: loss did not fall ({losses})")
        run = _check_preprocess(model_dir)
        signatures = _check_signatures(os.path.join(model_dir, "export", "1"), run.task)
        declared = sorted(task_class.signature_names + ("tokenize",))
        _require(signatures == declared, f"{task_name} exports {signatures} but declares "
                 f"signature_names {declared}")
        report[model] = {"losses": losses, "signatures": signatures}
        if bad_data:
            try:
                train_from_flags(default_options(
                    model=model, task=task_name, train_data=train_data, eval_data=bad_data,
                    model_dir=os.path.join(workdir, f"{task_name}-{model}-bad"), **options))
            except DataError as error:
                _require(str(error).startswith(f"{bad_data}:"),
                         f"bad rows failed without naming the file: {error}")
            else:
                raise ConformanceError(f"{task_name} accepted the bad rows of {bad_data}")
    return report
