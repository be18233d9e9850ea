"""Length bucketing of the training stream (`--batching=bucket`).

Each batch is tokenized whole and trimmed to its longest row, so a batch
that mixes short and long examples pays for the long one in every row.
Bucketing groups examples of similar length into the same batch. The length
is read before tokenization, cheaply: the UTF-8 byte length of the task's
text fields (summed for pairs, e.g. `text`+`text_b`, `source`+`target`).
Buckets are geometric: bucket `k` holds lengths in `[lo*r^(k-1), lo*r^k)`
bytes with `lo=8`, `r=1.25`, up to `8 * seq_len` bytes (longer texts are
truncated to `seq_len` tokens anyway), so the longest example of a bucket
is at most 25% longer than its shortest. Bytes only approximate tokens (on
SST-2 one 24-29 byte bucket holds rows of 2 to 12 WordPiece tokens), so the
longest row still sets the width; measured, padding falls from 70% to 43%
of the computed tokens there (`benchmarks/train_throughput.py --batching`).

Examples are taken from the shuffled stream in order; each joins its bucket,
and a bucket that reaches `batch_size` examples is emitted as one full batch.
Batch order therefore stays random, with short and long batches alternating
as their buckets fill; the sequence of batches is a function of the input
stream alone (no clock, no thread timing), so a run resumed at batch `i`
skips the same batches as the uninterrupted one saw. At most
`batch_size - 1` examples wait in each bucket; rare lengths wait longest.

Only tasks whose `preprocess` takes batches of independent raw examples can
bucket; those that pack a token stream into full rows (`supports_bucketing =
False`: clm, span corruption) have no padding to save.

Example:
    >>> batches = bucketed_batches(examples, ("text",), batch_size=32, seq_len=128)
    >>> next(iter(batches))["text"].shape
    TensorShape([32])
"""
import math

import tensorflow as tf

BATCHINGS = ("plain", "bucket")
#: Smallest bucket edge (bytes) and the ratio between neighbouring edges.
FIRST_EDGE, RATIO = 8, 1.25


def bucket_boundaries(seq_len, first=FIRST_EDGE, ratio=RATIO):
    """Geometric byte-length edges `first * ratio**k` below `8 * seq_len`.

    >>> bucket_boundaries(16)
    [8, 10, 12, 15, 19, 24, 30, 38, 47, 59, 74, 93, 116]
    """
    count = max(1, math.ceil(math.log(8 * seq_len / first, ratio)))
    edges = sorted({int(first * ratio ** k) for k in range(count)})
    return edges


def length_key(example, fields):
    """Byte length of `example`'s `fields` present in it (all string fields if
    none is), summed: an int64 scalar."""
    named = [example[f] for f in fields if f in example]
    named = named or [v for v in example.values() if v.dtype == tf.string]
    return tf.cast(tf.add_n([tf.strings.length(v) for v in named]), tf.int64)


def bucketed_batches(examples, fields, batch_size, seq_len):
    """Full batches of `batch_size` examples of similar length (see module doc).

    `examples` yields dicts of scalar string tensors; the result yields dicts of
    1-D tensors, like `examples.batch(batch_size, drop_remainder=True)`."""
    edges = tf.constant(bucket_boundaries(seq_len), tf.int64)

    def bucket(example):
        return tf.reduce_sum(tf.cast(length_key(example, fields) >= edges, tf.int64))

    return examples.group_by_window(
        key_func=bucket, window_size=batch_size,
        reduce_func=lambda key, window: window.batch(batch_size, drop_remainder=True))


def check_bucketing(task_class, config=None):
    """Raises ValueError when the task (under `config`) cannot use `--batching=bucket`."""
    if not task_class.can_bucket(config):
        raise ValueError(
            f"--batching=bucket groups independent examples by length, but task "
            f"'{task_class.name}' packs its text into full rows of tokens (no padding to "
            "save); use --batching=plain" + (
                ", or --task_config=packing=false" if task_class.name == "mlm" else ""))
