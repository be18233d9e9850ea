"""Initialises a backbone from a pretraining run, a keras-hub preset directory or a
Hugging Face checkpoint directory.

`--init_checkpoint` may name a model_dir of this project (its latest
checkpoint), one checkpoint of it (`runs/pre/ckpt-300`; a LoRA run's adapters are merged into its
weights first, so the new run starts from the function it learned), a local keras-hub
preset directory (the `save_to_preset` layout) of the same family, or a local
Hugging Face directory (config.json, model.safetensors and tokenizer files of
BERT, GPT-2 or T5; zoo.models.hf_import), whose config.json also gives the
model's sizes and whose tokenizer files become the run's. Weights are
copied in the backbone's own variable order after checking names and shapes;
the report lists what was restored, what is new (the task head) and what did
not match (an error unless partial restores are allowed).

Example:
    >>> report = initialize_backbone(run.backbone, run.model, "runs/pre", family="encoder")
    >>> print(report.summary())
    >>> source_kind("hf/bert-base-uncased")
    ('hf', 'hf/bert-base-uncased')
"""
import atexit
import dataclasses
import json
import os
import shutil
import tempfile

import tensorflow as tf

from zoo import atomic_files, fileio
from zoo.models import hf_import
from zoo.run_config import ADDED_MODEL_FIELDS, CONFIG_FILE, load_run_config, model_field
from zoo.train.checkpoint_repair import latest_restorable
from zoo.train.options import UsageError


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


_LOCAL_COPIES = {}


def local_directory(directory):
    """`directory` itself if local, else a local copy of it, made once per process and
    removed when the process exits: keras-hub presets and safetensors files are read
    with Python's `open`, which knows no gs://, s3:// or ram://."""
    if not fileio.is_remote(directory):
        return directory
    if directory not in _LOCAL_COPIES:
        scratch = tempfile.mkdtemp(prefix="zoo-init-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        atomic_files.copy_tree(directory, scratch)
        _LOCAL_COPIES[directory] = scratch
    return _LOCAL_COPIES[directory]


def source_kind(path):
    """'run' (model_dir or checkpoint of this project), 'preset' (keras-hub) or 'hf'
    (Hugging Face directory: checked here, a UsageError says what is wrong), and its
    directory: a preset or Hugging Face directory on a remote file system is copied
    to a local one (`local_directory`); a run is read where it is."""
    directory = path if fileio.isdir(path) else fileio.dirname(path)
    config_path = fileio.join(directory, CONFIG_FILE)
    if not fileio.exists(config_path):
        raise FileNotFoundError(f"--init_checkpoint '{path}' is neither a model_dir or "
                                "checkpoint of zoo-train, a keras-hub preset directory nor a "
                                f"Hugging Face directory (no {CONFIG_FILE} in '{directory}')")
    raw = json.loads(fileio.read_text(config_path))
    if "task" in raw and "model" in raw:
        return "run", directory
    if "model_type" in raw:
        _hf_config(local_directory(directory))
        return "hf", local_directory(directory)
    return "preset", local_directory(directory)


def _hf_config(directory):
    try:
        return hf_import.check_directory(directory)
    except hf_import.HfCheckpointError as error:
        raise UsageError(f"--init_checkpoint: {error}") from None


def _check_hf_family(path, config, family):
    source_family = hf_import.HF_FAMILIES[config["model_type"]]
    if source_family != family:
        raise RestoreError(f"--init_checkpoint '{path}' holds a Hugging Face "
                           f"'{config['model_type']}' model of family '{source_family}'; this "
                           f"run needs family '{family}'")


def source_model_config(path, spec, model_config):
    """`model_config` (a dataclass of `spec`, the --model) with the sizes of a Hugging
    Face --init_checkpoint; unchanged for other sources, whose sizes --model gives."""
    kind, directory = source_kind(path)
    if kind != "hf":
        return model_config
    config = _hf_config(directory)
    _check_hf_family(path, config, spec.family)
    expected = hf_import.CONFIG_CLASSES[config["model_type"]]
    if type(model_config).__name__ != expected:
        raise UsageError(f"--init_checkpoint '{path}' holds a Hugging Face "
                         f"'{config['model_type']}' model; --model='{spec.name}' is not built "
                         f"from a {expected}: pick any size of that family (the sizes come "
                         "from config.json)")
    try:
        fields = hf_import.model_fields(config)
    except ValueError as error:
        raise UsageError(f"--init_checkpoint: {error}") from None
    known = {f.name for f in dataclasses.fields(model_config)}
    return dataclasses.replace(model_config, **{k: v for k, v in fields.items() if k in known})


def with_source_pooling(task_config, path):
    """`task_config` with `pooling=auto` replaced by what a Hugging Face
    --init_checkpoint's `1_Pooling/config.json` names (sentence-transformers: mean,
    cls or max); unchanged otherwise."""
    kind, directory = source_kind(path)
    if getattr(task_config, "pooling", None) != "auto" or kind != "hf":
        return task_config
    pooling = hf_import.pooling_mode(directory)
    return dataclasses.replace(task_config, pooling=pooling) if pooling else task_config


def source_tokenizer(path):
    """(tokenizer kind, lowercase or None) of a Hugging Face --init_checkpoint."""
    kind, directory = source_kind(path)
    if kind != "hf":
        raise ValueError(f"'{path}' is not a Hugging Face directory")
    model_type = _hf_config(directory)["model_type"]
    return hf_import.TOKENIZER_KINDS[model_type], \
        hf_import.lowercase(directory) if model_type == "bert" else None


def _hf_vocab(directory):
    """The one tokenizer file of a Hugging Face directory (GPT-2's two files are
    joined into a bpe.json in a temporary directory, removed when the process
    exits: the run keeps its own copy in model_dir)."""
    model_type = _hf_config(directory)["model_type"]
    names = hf_import.TOKENIZER_FILES[model_type]
    if model_type != "gpt2":
        return os.path.join(directory, names[0])
    from zoo.data.tokenizers.bpe import write_bpe_file
    scratch = tempfile.mkdtemp(prefix="zoo-hf-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return write_bpe_file(*(os.path.join(directory, n) for n in names),
                          os.path.join(scratch, "bpe.json"))


def source_vocab(path):
    """The vocab file that belongs to an init source."""
    kind, directory = source_kind(path)
    if kind == "hf":
        return _hf_vocab(directory)
    if kind == "run" and not load_run_config(directory).vocab_file:
        return ""  # byte tokenizer: no file
    candidates = [fileio.join(directory, load_run_config(directory).vocab_file)] \
        if kind == "run" else [os.path.join(directory, "assets", "tokenizer", name)
                               for name in ("vocabulary.txt", "vocab.txt")]
    for candidate in candidates:
        if fileio.exists(candidate):
            return candidate
    raise FileNotFoundError(f"--init_checkpoint '{path}' has no vocab file "
                            f"(looked for {', '.join(candidates)})")


def _source_backbone(path, family):
    from plugins import MODELS
    from zoo.assembly import assemble
    kind, directory = source_kind(path)
    if kind == "hf":
        _check_hf_family(path, _hf_config(directory), family)
        try:
            return hf_import.load_backbone(directory)
        except ValueError as error:
            raise RestoreError(f"--init_checkpoint '{path}': {error}") from None
    if kind == "preset":
        import keras_hub
        return keras_hub.models.Backbone.from_preset(directory)
    config = load_run_config(directory)
    if config.family != family:
        raise RestoreError(f"--init_checkpoint '{path}' holds a '{config.model}' model of "
                           f"family '{config.family}'; this run needs family '{family}'")
    MODELS.get(config.model)
    checkpoint = path if not fileio.isdir(path) else latest_restorable(directory)
    if not checkpoint:
        raise FileNotFoundError(f"--init_checkpoint '{path}' has no checkpoint")
    source = assemble(config, directory)
    tf.train.Checkpoint(model=source.model).restore(checkpoint).expect_partial()
    from zoo.train.lora import merge_adapters
    merge_adapters(source.model)  # a LoRA run gives its adapted weights, W + A @ B * scale
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
    elif kind == "hf":
        config = _hf_config(directory)
        _check_hf_family(path, config, family)
        name, source_config = f"Hugging Face {config['model_type']}", \
            hf_import.model_fields(config)
    else:
        with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as handle:
            raw = json.load(handle)
        name, source_config = f"keras-hub {raw.get('class_name', '?')}", raw.get("config", {})
    differences = [f"{key}: {model_field(source_config, key)!r} in the checkpoint, {value!r} here"
                   for key, value in sorted(model_config.items())
                   if key not in ("dropout", "vocabulary_size", "initializer")
                   and (key in source_config or key in ADDED_MODEL_FIELDS)
                   and model_field(source_config, key) != value]
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
