"""Conformance kit: one call that checks a task plugin end to end.

`check_task_plugin` is the executable definition of the task plugin contract.
In order, failing at the first broken rule:

1. Bad rows (given `bad_data`, a file of rows the task must refuse, in any
   format zoo-train reads): zoo-train with them as eval data fails before
   training with a DataError naming `<bad_data>:<line>:`, the actual bad line:
   `bad_line`, or when it is not given the first line n such that lines 1..n
   of the file are refused by zoo-train's data checks (the kit finds it from
   copies of the file, so a wrong line number in the message is caught; a
   fault that shows only with later lines, e.g. a header lacking a column
   with no row yet, needs `bad_line`). Checked once, with the first model.
2. For each model: zoo-train trains `steps` steps and the loss falls by a margin:
   the mean loss of the first quarter of the logged loops (each loop's loss is
   already a mean over `steps_per_loop` batches) must fall by `LOSS_MARGIN`
   (15%) in the last quarter. Why 15%: a model that does not change (bert_nano on
   the classification case at a learning rate of 1e-12) logged loop losses of
   0.689, 0.658, 0.636, 0.693, batch noise of about 4% per loop (5% between
   two loops), so 15% is 3 standard deviations of that noise. The built-in cases
   that learn fall by 18% (mlm, the least) to 99% in their 40 steps; the nsp case
   fell 5%, i.e. it learns nothing in 40 steps (see `unlearned`). A model that
   learns only a prior (the label shares, a token-level task's unigrams) can fall
   by more: the next check is for that.
   Then, for each accuracy-like metric (`*accuracy`, `exact_match`) whose labels
   are one per row (classification, distill, nsp, mlm_nsp's nsp, multilabel,
   embedding's in-batch accuracy; not per-token ones such as masked_accuracy), the
   trained model, run by the task's own `metrics` on up to `CHANCE_ROWS` (256)
   rows of the training data, must beat chance on those same rows: chance is the
   accuracy of the best constant prediction (the most frequent row label, by
   weight), which a constant model scores exactly. The margin is 3 standard
   deviations of an accuracy at chance on that many rows
   (3 * sqrt(p * (1 - p) / n)): a model that ignores its input gets past it about
   once in a thousand runs.
   `unlearned` names what a case is not checked for (e.g. the built-in nsp
   cases, whose NSP bert_nano learns only after a plateau of hundreds of steps).
3. `preprocess`, on batches made as the runtime makes them (`read_examples`,
   the task's `example_stream`, `batch`), gives the same features, labels and
   weights in `tf.data` and in a traced `tf.function` for the same seed:
   numpy equality, floats up to float32 rounding.
4. The export loads back, has the signatures the task declares plus
   `tokenize`, and every signature, called with raw strings, returns outputs
   with a batch dimension. Inputs are read from each signature's
   `structured_input_signature` (`text`, `prompt`, `source`, a pair's
   `text_b`, ...); their strings come from `warmup_inputs()`, which must cover
   every input of the task's own signatures (`tokenize` falls back to a stock
   text).
5. The export's TF Serving warm-up file (`assets.extra/tf_serving_warmup_requests`)
   holds PredictionLog records, and each request, replayed through the loaded
   SavedModel as TF Serving replays it at load, succeeds.

Models: by default the first registered `*_nano` model of each family the
task accepts (bert_nano, gpt_nano, t5_nano), so that a check takes minutes
rather than one training per nano model; `models="all"` takes every
compatible nano model (transformer_nano too), or pass a list of names.

Example (in a plugin author's own test):
    from plugins.testing import check_task_plugin

    def test_my_task(tmp_path):
        check_task_plugin("my_task", train_data="tests/data/train.tsv",
                          workdir=str(tmp_path), bad_data="tests/data/bad.tsv")
"""
import os

import numpy as np
import tensorflow as tf

from plugins.learning_checks import (  # noqa: F401  (ConformanceError: the kit's API too)
    ConformanceError, check_above_chance, check_loss_falls, logged_losses, require as _require)

#: Strings for a signature input that `warmup_inputs()` does not cover (`tokenize`).
STOCK_TEXTS = ("the quick brown fox jumps over the lazy dog", "a short text")
#: Rows of each signature call (at least two, so a batch dimension shows).
SIGNATURE_BATCH = 2


def _default_models(task_class, every):
    """Compatible nano models: every one, or the first registered of each family."""
    from plugins import MODELS
    compatible = [(name, spec.family) for name, spec in MODELS.items()
                  if name.endswith("_nano") and spec.family in task_class.families]
    if every:
        return [name for name, _ in compatible]
    first = {}
    for name, family in compatible:
        first.setdefault(family, name)
    return list(first.values())


# -- preprocess ------------------------------------------------------------
def _arrays(tensor):
    """numpy arrays of a tensor: its values (a ragged tensor's flat values and row splits)."""
    if isinstance(tensor, tf.RaggedTensor):
        return [tensor.flat_values.numpy()] + [s.numpy() for s in tensor.nested_row_splits]
    if isinstance(tensor, tf.SparseTensor):
        return [tensor.indices.numpy(), tensor.values.numpy(), tensor.dense_shape.numpy()]
    return [tensor.numpy()]


def _leaves(structure, path=""):
    """(path, tensor) pairs of a nest of dicts, lists and tuples, in tf.nest order."""
    if isinstance(structure, dict):
        for key in sorted(structure):
            yield from _leaves(structure[key], f"{path}/{key}" if path else str(key))
    elif isinstance(structure, (list, tuple)):
        for index, item in enumerate(structure):
            yield from _leaves(item, f"{path}/{index}" if path else str(index))
    else:
        yield path, structure


def _assert_same_values(expected, actual, what):
    """Equal structure, dtypes, shapes and values: numpy equality (NaN == NaN), and for
    floats equality up to float32 rounding (a model in preprocess, e.g. distill's
    teacher, may round its last bits otherwise in another graph)."""
    try:
        tf.nest.assert_same_structure(expected, actual, expand_composites=False)
    except (ValueError, TypeError) as error:
        raise ConformanceError(f"{what}: other structure ({error})") from None
    for (path, left), (_, right) in zip(_leaves(expected), _leaves(actual)):
        name = f"{what} '{path}'" if path else what
        _require(left.dtype == right.dtype,
                 f"{name}: dtype {left.dtype.name} in tf.data, {right.dtype.name} traced")
        try:
            for left_array, right_array in zip(_arrays(left), _arrays(right)):
                np.testing.assert_equal(left_array.shape, right_array.shape, "shapes differ")
                if left_array.dtype.kind == "f":
                    np.testing.assert_allclose(left_array, right_array, rtol=1e-5, atol=1e-6)
                else:
                    np.testing.assert_array_equal(left_array, right_array, strict=True)
        except AssertionError as error:
            raise ConformanceError(f"{name}: other values in tf.data than traced, with the "
                                   f"same seed:{error}") from None


def _check_preprocess(run, config, batch_size=4, seed=(11, 3)):
    """preprocess, in tf.data and traced, gives equal values for one seed."""
    from zoo.data.formats.readers import read_examples
    task = run.task
    examples = read_examples(config.training["train_data"], task.data_fields, config.text_mode)
    batches = task.example_stream(examples).batch(batch_size)
    seed = tf.constant(seed, tf.int64)
    in_pipeline = tf.data.Dataset.zip((batches, tf.data.Dataset.from_tensors(seed).repeat()))
    in_pipeline = in_pipeline.map(lambda batch, s: task.preprocess(batch, seed=s))
    from_data = next(iter(in_pipeline))
    _require(len(from_data) == 3, "preprocess must return (features, labels, weights)")
    _require(tf.nest.flatten(from_data[0]), "preprocess returned no features")
    traced = tf.function(lambda batch, s: task.preprocess(batch, seed=s))
    from_trace = traced(next(iter(batches)), seed)
    for name, left, right in zip(("features", "labels", "weights"), from_data, from_trace):
        _assert_same_values(left, right, f"preprocess {name}")


# -- export ------------------------------------------------------------------
def _signature_inputs(name, wanted, warmup, own):
    """{input: strings} for one signature: warmup_inputs(), padded to the batch."""
    inputs = {}
    for key, spec in wanted.items():
        _require(spec.dtype == tf.string, f"signature '{name}' input '{key}' is "
                 f"{spec.dtype.name}, not a raw string")
        _require(spec.shape.rank == 1, f"signature '{name}' input '{key}' has shape "
                 f"{spec.shape}, not a batch of strings [None]")
        _require(key in warmup or not own, f"warmup_inputs() gives no value for input "
                 f"'{key}' of signature '{name}' (it gives {sorted(warmup)})")
        values = [str(v) for v in warmup.get(key, ())] + list(STOCK_TEXTS)
        inputs[key] = values
    batch = max([SIGNATURE_BATCH] + [len(warmup.get(key, ())) for key in wanted])
    return {key: tf.constant((values * batch)[:batch]) for key, values in inputs.items()}, batch


def _check_signatures(export_path, task):
    loaded = tf.saved_model.load(export_path)
    _require("serving_default" in loaded.signatures, "the export has no serving_default")
    warmup = task.warmup_inputs()
    for name, signature in loaded.signatures.items():
        wanted = signature.structured_input_signature[1]
        _require(wanted, f"signature '{name}' takes no named inputs")
        inputs, batch = _signature_inputs(name, wanted, warmup, own=name != "tokenize")
        try:
            outputs = signature(**inputs)
        except Exception as error:  # noqa: BLE001 - reported as the failed check
            raise ConformanceError(f"signature '{name}' failed on raw strings "
                                   f"{ {k: v.numpy().tolist() for k, v in inputs.items()} }: "
                                   f"{type(error).__name__}: {error}") from error
        for key, value in outputs.items():
            _require(value.shape.rank and value.shape[0] == batch,
                     f"signature '{name}' output '{key}' has shape {value.shape}, not a "
                     f"batch dimension of {batch}")
    check_warmup_requests(export_path, loaded)
    return sorted(loaded.signatures)


def check_warmup_requests(export_path, loaded=None):
    """Replays every request of the export's warm-up file through the SavedModel
    (`loaded`, or loaded from `export_path`), as TF Serving does when it loads a
    version; raises ConformanceError at the first record that is not a
    PredictionLog or whose request fails.

        >>> check_warmup_requests("runs/sst2/export/1")
    """
    from tensorflow_serving.apis import prediction_log_pb2
    from zoo.serve.export import WARMUP_FILE
    loaded = loaded or tf.saved_model.load(export_path)
    path = os.path.join(export_path, "assets.extra", WARMUP_FILE)
    _require(tf.io.gfile.exists(path), f"the export has no warm-up file {path}")
    count = 0
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record.numpy())
        except Exception as error:  # noqa: BLE001 - reported as the failed check
            raise ConformanceError(f"warm-up record {count + 1} of {path} is not a "
                                   f"PredictionLog: {error}") from error
        _require(log.WhichOneof("log_type") == "predict_log",
                 f"warm-up record {count + 1} of {path} holds no predict_log")
        request = log.predict_log.request
        name = request.model_spec.signature_name or "serving_default"
        _require(name in loaded.signatures, f"warm-up record {count + 1} of {path} calls "
                 f"signature '{name}', which the export lacks")
        signature = loaded.signatures[name]
        inputs = {key: tf.constant(tf.make_ndarray(proto))
                  for key, proto in request.inputs.items()}
        _require(set(inputs) == set(signature.structured_input_signature[1]),
                 f"warm-up record {count + 1} of {path} gives inputs {sorted(inputs)}, "
                 f"signature '{name}' takes {sorted(signature.structured_input_signature[1])}")
        try:
            outputs = signature(**inputs)
        except Exception as error:  # noqa: BLE001 - reported as the failed check
            raise ConformanceError(f"warm-up record {count + 1} of {path} fails on "
                                   f"'{name}': {type(error).__name__}: {error}") from error
        _require(outputs, f"warm-up record {count + 1} of {path}: '{name}' returned no "
                 "outputs")
        count += 1
    _require(count > 0, f"the warm-up file {path} holds no request")


# -- bad rows ------------------------------------------------------------------
def _refusal_check(task_name, model, train_data, options):
    """A function path -> whether zoo-train's host-side data checks (the reader, every
    row read through, and the runtime's row checks with the task's prepare and
    check_row) refuse `path` as eval data; a file of no rows is not refused."""
    import contextlib
    import dataclasses
    import io
    from zoo.data.formats.files import expand_paths
    from zoo.data.formats.readers import DataError, aligned_sources, check_readable, iter_rows
    from zoo.train import job
    from zoo.train.preparation import check_task_rows
    config = job.resolve_config(job.default_options(**{
        **options, "model": model, "task": task_name, "train_data": train_data}))
    train_paths = aligned_sources(expand_paths(train_data), config.data_fields)

    def refused(path):
        try:
            if next(iter_rows(path, config.data_fields, config.text_mode), None) is None:
                return False
            for _ in iter_rows(path, config.data_fields, config.text_mode):
                pass
            with contextlib.redirect_stdout(io.StringIO()):  # its data-check notes
                check_readable([path], config.data_fields, config.text_mode)
                check_task_rows(dataclasses.replace(config), train_paths, [path])
        except DataError:
            return True
        return False
    return refused


def _first_bad_line(refused, bad_data, scratch):
    """The first line of `bad_data` whose prefix (lines 1..n, in a copy) is refused."""
    from zoo import fileio
    with fileio.open_file(bad_data, "rb") as handle:  # (gunzipped: the copies are plain)
        lines = handle.readlines()
    os.makedirs(scratch, exist_ok=True)
    name = fileio.basename(bad_data)
    name = name[:-3] if fileio.is_gzip(name) else name

    def prefix_refused(count):
        path = os.path.join(scratch, f"{count}-{name}")
        with open(path, "wb") as handle:
            handle.writelines(lines[:count])
        return refused(path)
    _require(lines and prefix_refused(len(lines)), f"every row of {bad_data} is accepted")
    low, high = 1, len(lines)  # refusal only grows with the prefix: bisect
    while low < high:
        middle = (low + high) // 2
        if prefix_refused(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _check_bad_rows(task_name, model, train_data, bad_data, bad_line, workdir, options):
    """zoo-train with `bad_data` as eval data fails, before training, with a
    DataError naming the file and the bad line."""
    from zoo.data.formats.readers import DataError
    from zoo.train.job import default_options, train_from_flags
    if bad_line is None:
        from zoo.fileio import isfile
        _require("," not in bad_data and isfile(bad_data),
                 f"pass bad_line: the kit finds the bad line of one file, not of '{bad_data}'")
        bad_line = _first_bad_line(_refusal_check(task_name, model, train_data, options),
                                   bad_data, os.path.join(workdir, "bad-prefixes"))
    where = f"{bad_data}:{bad_line}:"
    try:
        train_from_flags(default_options(**{
            **options, "model": model, "task": task_name, "train_data": train_data,
            "eval_data": bad_data, "train_steps": 1, "export": False,
            "model_dir": os.path.join(workdir, f"{task_name}-bad")}))
    except DataError as error:
        _require(where in str(error), f"the bad rows of {bad_data} failed without naming "
                 f"'{where}' (the bad line): {error}")
        return str(error)
    except Exception as error:  # noqa: BLE001 - reported as the failed check
        raise ConformanceError(f"the bad rows of {bad_data} ({where}) raised "
                               f"{type(error).__name__}, not a DataError: {error}") from error
    raise ConformanceError(f"{task_name} accepted the bad rows of {bad_data} ({where})")


def check_task_plugin(task_name, train_data, workdir, task_config="", bad_data=None,
                      bad_line=None, steps=40, models=None, unlearned=(), **train_options):
    """Runs the conformance checks; returns {model: {"losses", "signatures", ...}}.

    `models`: None (the first nano model of each family the task accepts),
    "all" (every compatible nano model) or a list of model names. `unlearned`:
    what a case does not learn within `steps` and is not checked for: "loss" (the
    loss margin) and metric names (their above-chance check); say why where you
    pass it. Other keyword
    arguments are zoo-train options (`plugins=[...]`, `text_mode=...`, ...).
    The first model's entry also holds `bad_rows`: the refusal's message.
    Raises ConformanceError (an AssertionError) naming the first failed check.
    """
    from plugins import TASKS, load_plugins
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    from zoo.serve.export import export_model
    from zoo.train.job import default_options, train_from_flags
    load_plugins(train_options.get("plugins", ()))
    task_class = TASKS.get(task_name)
    if models is None or models == "all":
        models = _default_models(task_class, every=models == "all")
    _require(models, f"no nano model of the families {task_class.families} is registered")
    options = dict(seq_len=32, global_batch_size=8, steps_per_loop=max(steps // 4, 1),
                   learning_rate=2e-3, vocab_size=400, task_config=task_config,
                   train_steps=steps, shuffle_buffer=100)
    options.update(train_options)
    refusal = None
    if bad_data:  # host-side checks, before any training: one model is enough
        refusal = _check_bad_rows(task_name, models[0], train_data, bad_data, bad_line,
                                  workdir, options)
    report = {}
    for model in models:
        model_dir = os.path.join(workdir, f"{task_name}-{model}")
        train_from_flags(default_options(**{**options, "model": model, "task": task_name,
                                            "train_data": train_data, "model_dir": model_dir,
                                            "export": False}))
        losses = logged_losses(model_dir)
        if "loss" not in unlearned:
            check_loss_falls(losses, f"{task_name} on {model}")
        config = load_run_config(model_dir)
        run = assemble(config, model_dir)
        chance = check_above_chance(run, config, model_dir, f"{task_name} on {model}",
                                     skip=unlearned)
        _check_preprocess(run, config)
        export_path = export_model(model_dir, os.path.join(model_dir, "export"))
        signatures = _check_signatures(export_path, run.task)
        declared = sorted(task_class.signature_names + ("tokenize",))
        _require(signatures == declared, f"{task_name} exports {signatures} but declares "
                 f"signature_names {declared}")
        report[model] = {"losses": losses, "signatures": signatures, "above_chance": chance}
    if refusal:
        report[models[0]]["bad_rows"] = refusal
    return report
