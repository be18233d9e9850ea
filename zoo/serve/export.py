"""Exports a trained model_dir as a SavedModel for TF Serving.

Writes `<export_dir>/<version>/` atomically (a temporary directory renamed
at the end) with the task's raw-text signatures plus `tokenize`, the vocab as an asset, a
warm-up file in `assets.extra/` and `assets.extra/zoo.json` (task, model).
Versions are integers counting up from 1.

Example:
    >>> path = export_model("runs/a", "serving/a")
    >>> tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(["a [MASK]"]))
"""
import dataclasses
import json
import os

import tensorflow as tf

from zoo import fileio
from zoo.assembly import assemble
from zoo.atomic_files import atomic_directory, temp_directory
from zoo.evaluate.averaging import last_checkpoints, restore_average
from zoo.run_config import load_run_config
from zoo.train.checkpoint_repair import latest_restorable

WARMUP_FILE = "tf_serving_warmup_requests"
METADATA_FILE = "zoo.json"


def next_version(export_dir):
    versions = [int(n) for n in fileio.listdir(export_dir) if n.isdigit()]
    return max(versions, default=0) + 1


def latest_version_dir(export_dir):
    """The highest-numbered complete version under export_dir (or export_dir itself)."""
    if fileio.exists(os.path.join(export_dir, "saved_model.pb")):
        return export_dir
    version = next_version(export_dir) - 1
    if version < 1:
        raise FileNotFoundError(f"'{export_dir}' holds no exported version")
    return os.path.join(export_dir, str(version))


def exported_checkpoint(export_dir):
    """The checkpoint (its basename, `ckpt-300`) the latest version under export_dir
    was exported from; None when there is no readable version."""
    try:
        path = os.path.join(latest_version_dir(export_dir), "assets.extra", METADATA_FILE)
        return json.loads(fileio.read_text(path)).get("checkpoint")
    except (OSError, ValueError, AttributeError, tf.errors.OpError):
        return None


def write_warmup_requests(path, model_name, inputs):
    """Writes one PredictRequest per signature input set, as TF Serving expects."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        name=model_name, signature_name="serving_default"))
    for name, values in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(log.SerializeToString())


def tokenize_signature(encoder):
    """A `tokenize` signature: raw strings -> the ids the model sees, and their tokens."""
    vocabulary = tf.constant(encoder.vocabulary)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(text):
        token_ids, segment_ids, padding_mask = encoder.encode(text)
        return {"token_ids": token_ids, "segment_ids": segment_ids,
                "padding_mask": padding_mask, "tokens": tf.gather(vocabulary, token_ids)}
    return tokenize


class _Servable(tf.Module):
    def __init__(self, model, encoder, task):
        super().__init__()
        # The model's variables, not the Keras model object: through the model the
        # saver would also trace and store Keras's default call signature of every
        # Model in it (the task model, the backbone), which no signature uses.
        self.model_variables = list(model.variables)
        # Resources the signatures capture: the tokenizer's (e.g. SentencePiece)
        # and the task's (e.g. a sampler's seed).
        self.tokenizer = getattr(encoder, "tokenizer", None)
        self.task_objects = list(task.serving_objects())
        if encoder.vocab_path:  # the tokenizer file travels with the export
            self.vocab = tf.saved_model.Asset(encoder.vocab_path)


def _save(run, export_dir, path, metadata):
    """Saves run.model with fresh signatures (traced now, so after any quantization)."""
    signatures = run.task.serving_signatures(run.model)
    signatures.setdefault("tokenize", tokenize_signature(run.encoder))
    if "serving_default" not in signatures:
        raise ValueError(f"task '{metadata['task']}' exports no 'serving_default' signature")
    servable = _Servable(run.model, run.encoder, run.task)
    with atomic_directory(path) as tmp:
        tf.saved_model.save(servable, tmp, signatures=signatures)
        extra = os.path.join(tmp, "assets.extra")
        fileio.makedirs(extra)
        default_inputs = {spec.name for spec in signatures["serving_default"].input_signature}
        write_warmup_requests(os.path.join(extra, WARMUP_FILE),
                              fileio.basename(fileio.normalize(export_dir)),
                              {k: v for k, v in run.task.warmup_inputs().items()
                               if k in default_inputs})
        with fileio.open_file(os.path.join(extra, METADATA_FILE), "w") as handle:
            json.dump({**metadata, "signatures": sorted(signatures)}, handle, indent=2)
    return path


def export_model(model_dir, export_dir, checkpoint=None, decoding="", quantize="",
                 eval_data=(), eval_batch_size=64, columns=None, average_checkpoints=0):
    """Restores the latest (or given) checkpoint of model_dir and exports it;
    `decoding` replaces decoding options of generative tasks (`sampler=beam`).
    `average_checkpoints=N` (N > 1) exports the mean of the last N checkpoints
    ending at that one (zoo.evaluate.averaging), named in zoo.json (`averaged`).

    `quantize="int8"` quantizes the weights (zoo.serve.quantize) before saving; the
    float export is then also saved to a temporary directory to record its
    size (`float_bytes` in zoo.json). With `eval_data`, the task's metrics on
    those files before and after quantization go into zoo.json (`eval`), their
    columns named by `columns` (default: the run's --columns)."""
    from zoo.evaluate.evaluation import evaluate_run
    from zoo.serve.quantize import check_mode, directory_bytes, quantize_model
    check_mode(quantize)
    config = load_run_config(model_dir)
    checkpoint = checkpoint or latest_restorable(model_dir)
    if not checkpoint:
        raise FileNotFoundError(f"'{model_dir}' has no checkpoint to export; train first")
    run = assemble(config, model_dir, decoding=decoding)
    averaged = last_checkpoints(model_dir, average_checkpoints, checkpoint) \
        if average_checkpoints > 1 else [checkpoint]
    restore_average(run.model, averaged)  # (one path: a plain restore)
    from zoo.train.lora import merge_adapters
    merged = merge_adapters(run.model)  # LoRA runs: W += A @ B * alpha / rank, no adapters
    metadata = {"task": config.task, "model": config.model,
                "checkpoint": os.path.basename(checkpoint), "plugins": list(config.plugins),
                "task_config": dataclasses.asdict(run.task.config), "quantize": quantize}
    if merged:
        metadata["lora_merged_layers"] = merged
    if len(averaged) > 1:
        metadata["averaged"] = [os.path.basename(p) for p in averaged]

    def evaluate():
        return evaluate_run(run, list(eval_data), eval_batch_size,
                            config.training.get("seed", 0), config.text_mode,
                            columns=config.training.get("columns", "") if columns is None
                            else columns)
    results = {"data": list(eval_data), "float": evaluate()} if eval_data else None
    path = os.path.join(export_dir, str(next_version(export_dir)))
    if quantize:
        fileio.makedirs(export_dir)
        with temp_directory(export_dir, ".float-") as scratch:
            metadata["float_bytes"] = directory_bytes(
                _save(run, export_dir, os.path.join(scratch, "1"), metadata))
        metadata["quantization"] = quantize_model(run.model, quantize)
        if results:
            results[quantize] = evaluate()
    if results:
        metadata["eval"] = results
    return _save(run, export_dir, path, metadata)
