"""The options of a training job (what zoo-train's flags say), and the error for
options that cannot work together.

The runtime takes a `TrainOptions`; zoo-train fills one from its flags
(`zoo.cli.train.train_options`), which have the same names and defaults.

Example:
    >>> opts = default_options(model="bert_nano", train_steps=20)
    >>> opts.seq_len, opts.train_steps
    (128, 20)
    >>> dataclasses.replace(opts, seed=1).seed
    1
"""
import dataclasses


class UsageError(ValueError):
    """Flags or inputs that cannot work together; reported before any work."""


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Every zoo-train option with its default (see `zoo-train --help`)."""
    mode: str = "train"  # train, or eval: evaluate the latest checkpoint only
    # -- model, task, data
    model: str = "bert_tiny"
    task: str = "mlm"
    model_overrides: str = ""
    task_config: str = ""
    model_dir: str = "runs/default"
    export_dir: str = ""
    train_data: str = ""
    eval_data: str = ""
    text_mode: str = "line"
    columns: str = ""  # field=column,... of TSV/CSV/JSONL (zoo.data.formats.readers.parse_columns)
    plugins: tuple = ()
    # -- tokenizer
    tokenizer: str = "auto"
    vocab: str = ""
    vocab_size: int = 8000
    vocab_sample: str = "100M"  # bytes of text a vocab is trained from (zoo.data.tokenizers.vocab_sample); 0: all
    lowercase: bool = True
    # -- initialisation
    init_checkpoint: str = ""
    allow_partial_restore: bool = False
    freeze: str = ""
    layer_lr_decay: float = 1.0
    lora_rank: int = 0  # LoRA adapters of this rank, base weights frozen; 0: off
    lora_alpha: float = 0.0  # adapter scale alpha/rank; 0: the rank (scale 1)
    lora_targets: str = "attention"  # attention, all, or layer-name patterns (comma list)
    # -- schedule and optimizer
    train_steps: int = 300
    global_batch_size: int = 32
    seq_len: int = 128
    learning_rate: float = 5e-4
    warmup_steps: int = -1
    decay: str = "linear"
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-6
    clip_norm: float = 1.0
    nan_policy: str = "stop"
    max_skipped_steps: int = 10
    # -- evaluation, host loops, checkpoints
    eval_every: int = 0
    eval_steps: int = -1
    steps_per_loop: int = 50
    checkpoint_every: int = 500
    grace_period: float = 25.0  # seconds from SIGTERM to the kill (zoo.train.preemption)
    keep_checkpoints: int = 3
    shuffle_buffer: int = 10000
    seed: int = 0
    input_shards: int = 0  # shards of the training stream (zoo.data.pipeline.sharding); 0: one per worker
    # -- distribution
    strategy: str = "auto"
    num_gpus: int = -1
    worker_hosts: tuple = ()
    task_index: int = -1
    tpu: str = ""
    cpu_replicas: int = 1
    export: bool = True
    # -- speed
    precision: str = "float32"
    jit_compile: bool = False
    batching: str = "plain"
    grad_accum_steps: int = 1

    def __post_init__(self):
        for name in ("plugins", "worker_hosts"):  # lists (absl list flags) or comma strings
            value = getattr(self, name)
            if isinstance(value, str):
                value = [part for part in value.split(",") if part]
            object.__setattr__(self, name, tuple(value))


def default_options(**overrides):
    """zoo-train's defaults with `overrides` applied; unknown names are a UsageError.

    Example:
        >>> train_from_flags(default_options(model="bert_nano", train_steps=20))
    """
    known = {field.name for field in dataclasses.fields(TrainOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(f"unknown zoo-train options: {', '.join(unknown)}")
    return TrainOptions(**overrides)
