"""Initialises a backbone from a pretraining run or a keras-hub preset directory.

`--init_checkpoint` may name a model_dir of this project (its latest
checkpoint), one checkpoint of it (`runs/pre/ckpt-300`), or a local keras-hub
preset directory (the `save_to_preset` layout) of the same family. Weights are
copied in the backbone's own variable order after checking names and shapes;
the report lists what was restored, what is new (the task head) and what did
not match (an error unless partial restores are allowed).

Example:
    >>> report = initialize_backbone(run.backbone, run.model, "runs/pre", family="encoder")
    >>> print(report.summary())
"""
import dataclasses
import json
import os

import tensorflow as tf

from zoo.run_config import CONFIG_FILE, load_run_config


class RestoreError(ValueError):
    pass


@dataclasses.dataclass
class RestoreReport:
    source: str
    restored: list
    new: list
    unmatched: list

    def summary(self):
        lines = [f"init from {self.source}: restored {len(self.restored)} variables "
                 f"({sum(n for _, n in self.restored):,} values), newly initialised "
                 f"{len(self.new)}, unmatched {len(self.unmatched)}"]
        lines += [f"  new: {name}" for name in self.new]
        lines += [f"  unmatched: {text}" for text in self.unmatched[:10]]
        if len(self.unmatched) > 10:
            lines.append(f"  ... and {len(self.unmatched) - 10} more unmatched")
        return "\n".join(lines)


def source_kind(path):
    """'run' (model_dir or checkpoint of this project) or 'preset' (keras-hub)."""
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"--init_checkpoint '{path}' is neither a model_dir or "
                                "checkpoint of zoo-train nor a keras-hub preset directory "
                                f"(no {CONFIG_FILE} in '{directory}')")
    with open(config_path, encoding="utf-8") as handle:
        raw = json.load(handle)
    return ("run" if "task" in raw and "model" in raw else "preset"), directory


def source_vocab(path):
    """The vocab file that belongs to an init source."""
    kind, directory = source_kind(path)
    if kind == "run" and not load_run_config(directory).vocab_file:
        return ""  # byte tokenizer: no file
    candidates = [os.path.join(directory, load_run_config(directory).vocab_file)] \
        if kind == "run" else [os.path.join(directory, "assets", "tokenizer", name)
                               for name in ("vocabulary.txt", "vocab.txt")]
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"--init_checkpoint '{path}' has no vocab file "
                            f"(looked for {', '.join(candidates)})")


def _source_backbone(path, family):
    from plugins import MODELS
    from zoo.assembly import assemble
    kind, directory = source_kind(path)
    if kind == "preset":
        import keras_hub
        return keras_hub.models.Backbone.from_preset(directory)
    config = load_run_config(directory)
    if config.family != family:
        raise RestoreError(f"--init_checkpoint '{path}' holds a '{config.model}' model of "
                           f"family '{config.family}'; this run needs family '{family}'")
    MODELS.get(config.model)
    checkpoint = path if not os.path.isdir(path) else tf.train.latest_checkpoint(directory)
    if not checkpoint:
        raise FileNotFoundError(f"--init_checkpoint '{path}' has no checkpoint")
    source = assemble(config, directory)
    tf.train.Checkpoint(model=source.model).restore(checkpoint).expect_partial()
    return source.backbone


def check_compatible(path, family, model_config):
    """Fails early when a run to initialise from has another family or architecture."""
    kind, directory = source_kind(path)
    if kind == "run":
        config = load_run_config(directory)
        if config.family != family:
            raise RestoreError(f"--init_checkpoint '{path}' holds a '{config.model}' model of "
                               f"family '{config.family}'; this run needs family '{family}'")
        name, source_config = f"'{config.model}'", config.model_config
    else:
        with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as handle:
            raw = json.load(handle)
        name, source_config = f"keras-hub {raw.get('class_name', '?')}", raw.get("config", {})
    differences = [f"{key}: {source_config.get(key)!r} in the checkpoint, {value!r} here"
                   for key, value in sorted(model_config.items())
                   if key not in ("dropout", "vocabulary_size") and key in source_config
                   and source_config.get(key) != value]
    if differences:
        raise RestoreError(f"--init_checkpoint '{path}' holds a {name} backbone of another "
                           f"shape: {'; '.join(differences)}")


def initialize_backbone(backbone, model, path, family, allow_partial=False):
    """Copies backbone weights from `path` into `backbone`; returns a RestoreReport."""
    source = _source_backbone(path, family)
    targets, sources = backbone.weights, source.weights
    restored, unmatched = [], []
    for index, target in enumerate(targets):
        if index >= len(sources):
            unmatched.append(f"{target.path}: not in the source")
            continue
        origin = sources[index]
        if origin.path.rsplit("/", 1)[-1] != target.path.rsplit("/", 1)[-1] or \
                tuple(origin.shape) != tuple(target.shape):
            unmatched.append(f"{target.path} {tuple(target.shape)} vs source "
                             f"{origin.path} {tuple(origin.shape)}")
            continue
        target.assign(origin.value)
        restored.append((target.path, int(tf.size(target.value))))
    unmatched += [f"source {v.path}: not in this backbone" for v in sources[len(targets):]]
    backbone_ids = {id(v) for v in targets}
    new = [v.path for v in model.weights if id(v) not in backbone_ids]
    report = RestoreReport(path, restored, new, unmatched)
    if unmatched and not allow_partial:
        raise RestoreError(report.summary() + "\nthe backbone does not match the "
                           "checkpoint; pass --allow_partial_restore to train anyway")
    return report
