"""Builds the text encoder, task plugin and Keras model of a run from its RunConfig.

Training, export and evaluation all go through `assemble`, so they build the
same model the same way.

Example:
    >>> run = assemble(load_run_config("runs/a"), "runs/a")
    >>> run.model.count_params()
"""
import dataclasses
import os

from plugins import MODELS, TASKS
from zoo.data.tokenizers.encoders import load_encoder
from zoo.data.tokenizers.wordpiece import TextEncoder
from zoo.train.lora import run_adapters


@dataclasses.dataclass
class AssembledRun:
    encoder: TextEncoder
    task: object
    backbone: object
    model: object


def resolve_task(config):
    task_class = TASKS.get(config.task)
    task_class.check_family(config.model, config.family)
    return task_class, task_class.config_class(**config.task_config)


def with_decoding(task_config, decoding):
    """The task config with decoding options (`sampler=beam,num_beams=4`) replaced;
    only generative tasks have them."""
    from plugins import OverrideError, apply_overrides
    from plugins.overrides import parse_override_string
    from zoo.serve.generation import DecodingConfig
    if not decoding:
        return task_config
    if not isinstance(task_config, DecodingConfig):
        raise OverrideError("--decoding applies to generative tasks (clm, translation, "
                            "span_corruption) only")
    names = {f.name for f in dataclasses.fields(DecodingConfig)}
    unknown = sorted(set(parse_override_string(decoding)) - names)
    if unknown:
        raise OverrideError(f"unknown decoding options {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(names))}")
    return apply_overrides(task_config, decoding)


def assemble(config, model_dir, decoding="", adapters=True):
    """Creates encoder, task and model (call inside `strategy.scope()` to train);
    `decoding` overrides the decoding options of generative tasks. The LoRA
    adapters of a run (config.training) are added unless `adapters` is False
    (training adds them itself, after --init_checkpoint's weights are copied in)."""
    spec = MODELS.get(config.model)
    encoder = load_encoder(config.tokenizer, os.path.join(model_dir, config.vocab_file),
                           config.seq_len, config.lowercase, config.family)
    task_class, task_config = resolve_task(config)
    task = task_class(with_decoding(task_config, decoding), encoder)
    model_config = type(spec.config)(**config.model_config)
    backbone = spec.builder(model_config)
    model = task.build_model(backbone)
    if adapters:
        run_adapters(backbone, config.training)
    return AssembledRun(encoder, task, backbone, model)
