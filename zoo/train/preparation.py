"""Prepares a training job's inputs, host side, before any model is built: the data
paths (or the built-in corpus), a pass over every row of the task's files, and
the run's tokenizer file (trained from a `--vocab_sample` of the texts).

Example:
    >>> train_paths, eval_paths = data_paths(opts, config.data_fields)
    >>> check_task_rows(config, train_paths, eval_paths)   # fails naming file and line
    >>> prepare_vocab(opts, config, train_paths, opts.model_dir)
    8000
"""
import dataclasses
import os

from zoo import fileio
from zoo.data import builtin
from zoo.data.formats.files import expand_paths
from zoo.data.formats.readers import aligned_sources, check_filled, iter_rows
from zoo.train import preemption
from zoo.train.options import UsageError

#: The built-in corpus's files in model_dir (training without --train_data).
BUILTIN_TRAIN, BUILTIN_EVAL = "builtin_train.txt", "builtin_eval.txt"


def _rows(paths, fields, text_mode, required=(), texts=(), columns=None):
    """(path, line, row) of every row; an empty field of `required` fails."""
    for path in paths:
        for line, row in iter_rows(path, fields, text_mode, columns=columns):
            preemption.check()  # SIGTERM ends the data checks here
            check_filled(path, line, row, required, texts)
            yield path, line, row


def check_task_rows(config, train_paths, eval_paths, columns=None, own_train_paths=None):
    """Lets the task learn from (e.g. the label set) and check every row, host side.
    Tasks without row checks still have every file read through: a malformed or
    empty field anywhere fails now, naming file and line, not in the middle of
    training (whose native readers take the rows as they come). Those read only
    `own_train_paths` of the training files when given (a worker's input shards:
    the files it trains on), since nothing is learnt from the others."""
    from zoo.assembly import resolve_task
    task_class, task_config = resolve_task(config)
    required = [f for f in config.data_fields if f not in task_class.empty_allowed(task_config)]

    def rows(paths):
        return _rows(paths, config.data_fields, config.text_mode, required,
                     task_class.text_fields, columns)
    if not task_class.checks_rows():
        own = train_paths if own_train_paths is None else own_train_paths
        for _ in rows(list(own) + list(eval_paths)):
            pass
        return
    task_config = task_class.prepare(task_config, rows(train_paths))
    config.task_config = dataclasses.asdict(task_config)
    truncated = 0
    for path, line, row in rows(train_paths + eval_paths):
        task_class.check_row(task_config, path, line, row)
        # Every word is at least one token: more words than fit is surely truncated.
        truncated += sum(len(row[f].split()) for f in ("text", "text_b") if f in row) > \
            config.seq_len - 2 - ("text_b" in row)
    if truncated:
        print(f"data check: {truncated} example(s) have more words than fit in "
              f"--seq_len={config.seq_len}; they will be truncated (words are counted, "
              "so more may be)")
    for warning in task_class.data_warnings(task_config, rows(train_paths), rows(eval_paths)):
        print(f"data check: {warning}")


def data_paths(opts, fields):
    """Expands --train_data/--eval_data (missing files fail here) and aligns plain
    text files of multi-field tasks (train.en,train.de); None: built-in corpus."""
    if not opts.train_data:
        if opts.eval_data:
            raise UsageError("--eval_data needs --train_data")
        return None, None
    evaluation = aligned_sources(expand_paths(opts.eval_data), fields) if opts.eval_data else []
    return aligned_sources(expand_paths(opts.train_data), fields), evaluation


def write_builtin_corpus(model_dir):
    train = builtin.write_corpus(os.path.join(model_dir, BUILTIN_TRAIN), 4000, 0)
    evaluation = builtin.write_corpus(os.path.join(model_dir, BUILTIN_EVAL), 200, 1)
    print(f"no --train_data: training on the built-in corpus {train}")
    return [train], [evaluation]


def vocab_sample_bytes(value):
    """--vocab_sample in bytes (0: no sampling); a bad value is a UsageError."""
    from zoo.data.tokenizers.vocab_sample import parse_size
    try:
        return parse_size(value)
    except ValueError as error:
        raise UsageError(f"--vocab_sample: {error}") from None


def prepare_vocab(opts, config, train_paths, directory):
    """Puts the run's tokenizer file in `directory` (this worker's write_dir): that
    of model_dir on resume, copied from --vocab or --init_checkpoint, or trained
    from a sample of the training texts (--vocab_sample, drawn with --seed).
    Returns the vocabulary size."""
    from zoo.data.tokenizers.encoders import load_encoder, train_tokenizer
    from zoo.data.tokenizers.vocab_sample import sample_texts
    from zoo.atomic_files import atomic_copy

    def load(path):
        return load_encoder(config.tokenizer, path, config.seq_len, config.lowercase,
                            config.family)
    if not config.vocab_file:
        return load("").vocabulary_size
    path = os.path.join(directory, config.vocab_file)
    kept = os.path.join(opts.model_dir, config.vocab_file)
    if kept != path and fileio.exists(kept):  # a non-chief worker resuming
        atomic_copy(kept, path)
    if fileio.exists(path):
        if opts.vocab and load(opts.vocab).vocabulary != load(path).vocabulary:
            raise UsageError(f"--vocab={opts.vocab} differs from the vocab this model_dir "
                             f"was trained with ({path})")
        return load(path).vocabulary_size
    given = opts.vocab
    if not given and opts.init_checkpoint:
        from zoo.train.initialization import source_vocab
        given = source_vocab(opts.init_checkpoint)
        print(f"vocab: {given} (from --init_checkpoint)")
    if given:
        try:
            load(given)
        except (ValueError, OSError) as error:
            raise UsageError(f"--vocab={given} is not a usable {config.tokenizer} "
                             f"vocabulary: {error}") from None
        atomic_copy(given, path)
        return load(path).vocabulary_size
    print(f"training a {config.tokenizer} vocab of up to {opts.vocab_size} tokens from "
          f"{len(train_paths)} file(s)...")
    from plugins import TASKS
    fields = [f for f in config.data_fields if f in TASKS.get(config.task).text_fields]
    texts = sample_texts(train_paths, config.data_fields, opts.text_mode, opts.columns,
                         vocab_sample_bytes(opts.vocab_sample), opts.seed, fields)
    size = train_tokenizer(config.tokenizer, texts, opts.vocab_size, path, opts.lowercase,
                           config.family)
    print(f"vocab: {size} tokens -> {path}")
    return size
