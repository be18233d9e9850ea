"""Packs token ids into `[start] a [sep]` or `[start] a [sep] b [sep]` rows of a
fixed length, with dense ops.

The rows are exactly those of keras-hub's `MultiSegmentPacker` (round-robin
truncation, right padding, segment ids 0 then 1, padding in segment 0);
tests/test_tokenizer_and_masking.py compares the two. The packer concatenates
ragged tensors, which builds 500-750 graph ops and costs about 0.45-0.7 s of
CPU each time a tf.data pipeline or an export signature traces it; this
builds under 100 ops in about a tenth of the time (benchmarks/README.md).

Example:
    >>> token_ids, segment_ids = pack_segments(
    ...     [tf.ragged.constant([[7, 8, 9]]), tf.ragged.constant([[4, 5]])],
    ...     seq_len=8, start_id=2, sep_id=3, pad_id=0)
    >>> token_ids.numpy().tolist(), segment_ids.numpy().tolist()
    ([[2, 7, 8, 9, 3, 4, 5, 3]], [[0, 0, 0, 0, 0, 1, 1, 1]])
"""
import tensorflow as tf


def round_robin_lengths(lengths, budget):
    """Tokens that round-robin truncation keeps of each of 1 or 2 segments whose
    `lengths` are given: one token of each in turn until `budget` is spent."""
    budget = tf.cast(budget, lengths[0].dtype)
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    first, second = lengths
    keep_first = tf.minimum(first, tf.maximum((budget + 1) // 2, budget - second))
    return [keep_first, tf.minimum(second, budget - keep_first)]


def pack_segments(segments, seq_len, start_id, sep_id, pad_id):
    """1 or 2 ragged [batch, None] id tensors -> (token_ids, segment_ids), dense
    [batch, seq_len] of the segments' dtype and int32."""
    if len(segments) not in (1, 2):
        raise ValueError(f"can pack 1 or 2 segments, not {len(segments)}")
    dtype = segments[0].dtype
    keeps = round_robin_lengths([s.row_lengths() for s in segments],
                                seq_len - 1 - len(segments))
    batch = segments[0].nrows()
    position = tf.broadcast_to(tf.range(seq_len, dtype=tf.int64)[None, :], [batch, seq_len])
    token_ids = tf.where(position == 0, tf.cast(start_id, dtype), tf.cast(pad_id, dtype))
    segment_ids = tf.zeros([batch, seq_len], tf.int32)
    offset = tf.ones([batch, 1], tf.int64)  # where the segment's first token goes
    for index, (segment, keep) in enumerate(zip(segments, keeps)):
        end = offset + keep[:, None]  # the position of its separator
        values = tf.gather(segment.to_tensor(shape=[None, seq_len]),
                           tf.clip_by_value(position - offset, 0, seq_len - 1), batch_dims=1)
        token_ids = tf.where((position >= offset) & (position < end), values, token_ids)
        token_ids = tf.where(position == end, tf.cast(sep_id, dtype), token_ids)
        segment_ids = tf.where((position >= offset) & (position <= end), index, segment_ids)
        offset = end + 1
    return token_ids, segment_ids
