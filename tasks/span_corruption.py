"""Span corruption (T5 pretraining objective).

Documents are packed into rows of raw tokens; in every row a fraction
`noise_density` of the tokens, in spans of mean length `mean_span_length`,
is replaced in the encoder input by one sentinel token per span
(`<extra_id_0>`, `<extra_id_1>`, ...), and the decoder learns to output each
sentinel followed by the tokens it hid (Raffel et al. 2020, section 3.1.4).
The raw row length is chosen so that the corrupted input fills `seq_len`.

Example:
    zoo-train --model=t5_mini --task=span_corruption --train_data=corpus.txt \\
              --model_dir=runs/t5pre
    zoo-train --model=t5_mini --task=translation --init_checkpoint=runs/t5pre ...
"""
import dataclasses

import tensorflow as tf

from plugins import TASKS
from tasks.seq2seq import Seq2SeqTask
from zoo.data.pipeline.packing import pack_documents
from zoo.serve.generation import DecodingConfig


@dataclasses.dataclass(frozen=True)
class SpanCorruptionConfig(DecodingConfig):
    noise_density: float = 0.15
    mean_span_length: float = 3.0


def span_counts(length, noise_density, mean_span_length):
    """(noise tokens, noise spans) in a row of `length` raw tokens."""
    noise = min(max(int(round(length * noise_density)), 1), length - 1)
    spans = max(int(round(noise / mean_span_length)), 1)
    return noise, spans


def raw_length(seq_len, noise_density, mean_span_length):
    """The longest raw row whose corrupted input (plus [EOS]) fits in seq_len."""
    length = 2
    while True:
        noise, spans = span_counts(length + 1, noise_density, mean_span_length)
        if length + 1 - noise + spans + 1 > seq_len:
            return length
        length += 1


def _segment_lengths(total, segments, batch, seed):
    """Random split of `total` items into `segments` non-empty parts, per row."""
    if segments == 1:
        return tf.fill([batch, 1], total)
    scores = tf.random.stateless_uniform([batch, total - 1], seed)
    _, cuts = tf.math.top_k(scores, k=segments - 1)
    cuts = tf.sort(cuts + 1, axis=1)
    edges = tf.concat([tf.zeros([batch, 1], tf.int32), cuts,
                       tf.fill([batch, 1], total)], axis=1)
    return edges[:, 1:] - edges[:, :-1]


def noise_spans(batch, length, noise_density, mean_span_length, seed):
    """Segment ids [batch, length]: even ids are kept spans, odd ids noise spans
    (a row starts with a kept span); span 2k+1 is the k-th noise span."""
    noise, spans = span_counts(length, noise_density, mean_span_length)
    noise_seed, keep_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    noise_lengths = _segment_lengths(noise, spans, batch, noise_seed)
    keep_lengths = _segment_lengths(length - noise, spans, batch, keep_seed)
    interleaved = tf.reshape(tf.stack([keep_lengths, noise_lengths], axis=2), [batch, -1])
    ends = tf.cumsum(interleaved, axis=1)
    positions = tf.broadcast_to(tf.range(length), [batch, length])
    return tf.searchsorted(ends, positions, side="right")


def replace_spans(tokens, segment_ids, parity, sentinels):
    """Keeps tokens of segments whose id parity differs from `parity`; each
    segment of that parity becomes its sentinel (segment id // 2)."""
    hidden = segment_ids % 2 == parity
    previous = tf.pad(segment_ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    starts = tf.logical_and(hidden, segment_ids != previous)
    values = tf.where(starts, tf.gather(sentinels, segment_ids // 2), tokens)
    return tf.ragged.boolean_mask(values, tf.logical_or(tf.logical_not(hidden), starts))


def corrupt(rows, sentinels, noise_density, mean_span_length, seed):
    """Raw rows [batch, length] -> (inputs, targets), ragged, without [EOS]."""
    batch, length = tf.shape(rows)[0], rows.shape[1]
    segments = noise_spans(batch, length, noise_density, mean_span_length, seed)
    sentinels = tf.constant(sentinels, tf.int32)
    return (replace_spans(rows, segments, 1, sentinels),
            replace_spans(rows, segments, 0, sentinels))


@TASKS.register("span_corruption")
class SpanCorruption(Seq2SeqTask):
    """T5 span corruption over packed documents."""
    name = "span_corruption"
    data_fields = ("text",)
    config_class = SpanCorruptionConfig
    supports_bucketing = False  # packed rows have no padding
    min_seq_len = 3  # input: a kept token, a sentinel, [EOS]
    serving_input = "text"
    serving_output = "output"
    signature_names = ("serving_default", "fill_spans")

    def __init__(self, config, encoder):
        super().__init__(config, encoder)
        self.raw_length = raw_length(encoder.seq_len, config.noise_density,
                                     config.mean_span_length)
        _, spans = span_counts(self.raw_length, config.noise_density, config.mean_span_length)
        if spans > len(encoder.sentinel_ids):
            raise ValueError(
                f"span corruption needs {spans} sentinel tokens (<extra_id_0>...) at "
                f"seq_len {encoder.seq_len}; the vocabulary has {len(encoder.sentinel_ids)}. "
                "Train the vocab in an encoder-decoder run (they are added then) or lower "
                "seq_len")

    def example_stream(self, examples):
        return pack_documents(examples, self.encoder, self.raw_length)

    def preprocess(self, rows, seed=None):
        if seed is None:
            seed = tf.constant([0, 0], tf.int64)
        inputs, targets = corrupt(rows, self.encoder.sentinel_ids, self.config.noise_density,
                                  self.config.mean_span_length, seed)
        return self.teacher_forcing(self.with_eos(inputs), targets)

    def warmup_inputs(self):
        return {"text": ["The <extra_id_0> sat on the mat."]}
