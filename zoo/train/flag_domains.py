"""The domain of every numeric zoo-train flag, checked before any work.

A value outside its domain is a UsageError naming the flag, the domain and the
value: a negative or NaN learning rate would train (gradient ascent) or fail
later for another reason. `--vocab_size` has a lower bound that depends on the
model (`check_vocab_size`: the special tokens come first).

Example:
    >>> check_domains(default_options(learning_rate=-0.001))
    UsageError: --learning_rate must be a finite number > 0, got -0.001
"""
import math

from zoo.train.options import UsageError

POSITIVE = "a finite number > 0"
NON_NEGATIVE = "a finite number >= 0"

#: flag: (domain as the message says it, test of a value). (--layer_lr_decay,
#: --grad_accum_steps, --input_shards and the --lora_* flags are checked with
#: their combinations, in zoo.train.checks.)
DOMAINS = {
    "learning_rate": (POSITIVE, lambda v: math.isfinite(v) and v > 0),
    "weight_decay": (NON_NEGATIVE, lambda v: math.isfinite(v) and v >= 0),
    "adam_epsilon": (POSITIVE, lambda v: math.isfinite(v) and v > 0),
    "clip_norm": (f"{NON_NEGATIVE} (0: no clipping)", lambda v: math.isfinite(v) and v >= 0),
    "grace_period": (POSITIVE + " (seconds)", lambda v: math.isfinite(v) and v > 0),
    "vocab_size": ("an integer >= 1", lambda v: v >= 1),
    "warmup_steps": ("an integer >= -1 (-1: 10% of --train_steps)", lambda v: v >= -1),
    "eval_every": ("an integer >= 0 (0: only at the end)", lambda v: v >= 0),
    "eval_steps": ("-1 (all of --eval_data) or an integer >= 1", lambda v: v == -1 or v >= 1),
    "keep_checkpoints": ("an integer >= 1", lambda v: v >= 1),
    "shuffle_buffer": ("an integer >= 1 (1: no shuffle)", lambda v: v >= 1),
    "max_skipped_steps": ("an integer >= 0", lambda v: v >= 0),
    "num_gpus": ("-1 (all visible) or an integer >= 0", lambda v: v >= -1),
    "cpu_replicas": ("an integer >= 1", lambda v: v >= 1),
    "seed": ("an integer >= 0", lambda v: v >= 0),
}


def check_domains(opts):
    """Raises UsageError for the first numeric option outside its domain."""
    for name, (domain, test) in DOMAINS.items():
        value = getattr(opts, name, None)
        if value is not None and not test(value):
            raise UsageError(f"--{name} must be {domain}, got {value}")


def check_vocab_size(opts, config):
    """--vocab_size must leave room for one learned token after the special ones,
    when a vocab is trained from the data (no --vocab, no --init_checkpoint)."""
    from zoo.data.tokenizers.encoders import extra_tokens
    from zoo.data.tokenizers.special_tokens import SPECIAL_TOKENS
    if opts.vocab or opts.init_checkpoint or not config.vocab_file or \
            config.tokenizer not in ("wordpiece", "sentencepiece_unigram",
                                     "sentencepiece_bpe", "char"):
        return
    extra = len(extra_tokens(config.family))
    reserved = len(SPECIAL_TOKENS) + extra
    if opts.vocab_size <= reserved:
        what = f"{len(SPECIAL_TOKENS)} special tokens" + (
            f" and {extra} sentinels" if extra else "")
        raise UsageError(f"--vocab_size={opts.vocab_size} leaves no room for a learned token: "
                         f"a {config.tokenizer} vocab of '{config.model}' starts with {what}; "
                         f"give at least {reserved + 1}")
