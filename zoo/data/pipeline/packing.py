"""Packs documents into fixed-length rows of token ids, with no padding.

Each document is tokenized, followed by the end-of-sequence id, and the
stream of all documents is cut into rows of `length` ids; the last partial
row is dropped. Used by causal LM and span corruption.

Example:
    >>> rows = pack_documents(read_examples(paths), encoder, length=257)
    >>> next(iter(rows)).shape
    TensorShape([257])
"""
import tensorflow as tf


def pack_documents(examples, encoder, length, field="text", docs_per_chunk=64):
    """A dataset of raw examples -> a dataset of int32 rows of `length` ids."""
    def token_stream(batch):
        ids = encoder.tokenize(batch[field])
        ends = tf.fill([ids.nrows(), 1], tf.constant(encoder.eos_id, ids.dtype))
        return tf.cast(tf.concat([ids, ends], axis=1).flat_values, tf.int32)

    def cut(leftover, chunk):
        stream = tf.concat([leftover, chunk], axis=0)
        full = tf.size(stream) // length * length
        return stream[full:], tf.reshape(stream[:full], [-1, length])

    chunks = examples.batch(docs_per_chunk).map(token_stream, num_parallel_calls=tf.data.AUTOTUNE,
                                                 deterministic=True)
    return chunks.scan(tf.zeros([0], tf.int32), cut).unbatch()
