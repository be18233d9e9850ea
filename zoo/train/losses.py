"""Loss and metric sums shared by task plugins (float32, weighted, summed).

Tasks return sums and the runtime divides by the global weight, so a batch
split over replicas gives the same result as on one device.

Example:
    >>> loss_sum, weight_sum = sparse_cross_entropy_sum(labels, logits, weights)
"""
import tensorflow as tf


def sparse_cross_entropy_sum(labels, logits, weights, label_smoothing=0.0):
    """Sum of weighted token cross-entropies, and the sum of weights."""
    logits = tf.cast(logits, tf.float32)
    weights = tf.cast(weights, tf.float32)
    if label_smoothing:
        depth = tf.shape(logits)[-1]
        onehot = tf.one_hot(labels, depth, dtype=tf.float32)
        onehot = onehot * (1.0 - label_smoothing) + label_smoothing / tf.cast(depth, tf.float32)
        per_token = tf.nn.softmax_cross_entropy_with_logits(onehot, logits)
    else:
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(labels, tf.int32), logits)
    return tf.reduce_sum(per_token * weights), tf.reduce_sum(weights)


def accuracy_sum(labels, logits, weights):
    """(number of weighted correct argmax predictions, sum of weights)."""
    weights = tf.cast(weights, tf.float32)
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    correct = tf.cast(tf.equal(predictions, tf.cast(labels, tf.int32)), tf.float32)
    return tf.reduce_sum(correct * weights), tf.reduce_sum(weights)


def row_nll(labels, logits, weights, byte_lengths=None):
    """Per-row negative log-likelihood sums and token counts (gathered on the
    host for corpus perplexity), and with `byte_lengths` (the encoder's
    `token_byte_lengths()`) the UTF-8 bytes the predicted tokens stand for."""
    weights = tf.cast(weights, tf.float32)
    labels = tf.cast(labels, tf.int32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32))
    rows = {"nll": tf.reduce_sum(nll * weights, axis=1), "tokens": tf.reduce_sum(weights, axis=1)}
    if byte_lengths is not None:
        rows["bytes"] = tf.reduce_sum(tf.gather(byte_lengths, labels) * weights, axis=1)
    return rows
