"""The resolved configuration of a run, saved as `config.json` in model_dir.

It is what export, predict and resume rebuild the model from. Resuming a
model_dir with a different model, task or input configuration is refused
with the difference shown.

Example:
    >>> config = RunConfig(model="bert_tiny", family="encoder", model_config={...},
    ...                    task="mlm", task_config={}, seq_len=128)
    >>> save_run_config(config, "runs/a"); load_run_config("runs/a").model
    'bert_tiny'
"""
import dataclasses
import json
import os

from zoo import fileio
from zoo.atomic_files import atomic_write_text

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
#: Fields that must not change when a model_dir is resumed.
FROZEN_FIELDS = ("model", "family", "model_config", "task", "task_config", "seq_len",
                 "lowercase", "tokenizer", "vocab_file")


@dataclasses.dataclass
class RunConfig:
    model: str
    family: str
    model_config: dict
    task: str
    task_config: dict
    seq_len: int
    lowercase: bool = True
    tokenizer: str = "wordpiece"  # a kind of zoo.data.tokenizers.encoders.TOKENIZERS
    vocab_file: str = VOCAB_FILE  # in model_dir; empty for byte tokenizers
    data_fields: tuple = ("text",)
    text_mode: str = "line"
    training: dict = dataclasses.field(default_factory=dict)
    plugins: tuple = ()

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"


def save_run_config(config, model_dir):
    atomic_write_text(os.path.join(model_dir, CONFIG_FILE), config.to_json())


def load_run_config(model_dir):
    path = os.path.join(model_dir, CONFIG_FILE)
    if not fileio.exists(path):
        raise FileNotFoundError(f"'{model_dir}' has no {CONFIG_FILE}: it is not a model_dir "
                                "written by zoo-train")
    with fileio.open_file(path) as handle:
        raw = json.load(handle)
    known = {f.name for f in dataclasses.fields(RunConfig)}
    config = RunConfig(**{k: v for k, v in raw.items() if k in known})
    config.data_fields = tuple(config.data_fields)
    config.plugins = tuple(config.plugins)
    return config


#: Model config fields added after runs were saved without them, with the value
#: those runs had.
ADDED_MODEL_FIELDS = {"normalize_first": False, "activation": "", "initializer": "bert",
                      "layer_norm_epsilon": 1e-12}


def model_field(model_config, key):
    """`model_config[key]`, or the value a run saved before the field existed had."""
    return model_config.get(key, ADDED_MODEL_FIELDS.get(key))


def config_differences(old, new):
    """Lists 'field: old -> new' for frozen fields that differ."""
    diffs = []
    for name in FROZEN_FIELDS:
        a, b = getattr(old, name), getattr(new, name)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if model_field(a, key) != model_field(b, key):
                    diffs.append(f"{name}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
        elif a != b:
            diffs.append(f"{name}: {a!r} -> {b!r}")
    return diffs
