"""zoo.data.tokenizers.segment_packing against keras-hub's MultiSegmentPacker."""
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from zoo.data.tokenizers.segment_packing import pack_segments
from zoo.data.tokenizers.wordpiece import SPECIAL_TOKENS

CLS, SEP = SPECIAL_TOKENS.index("[CLS]"), SPECIAL_TOKENS.index("[SEP]")


@pytest.mark.parametrize("seq_len", [4, 6, 9, 16])
def test_segment_packing_equals_keras_hubs_packer(seq_len):
    """zoo.data.tokenizers.segment_packing packs one or two segments exactly as keras-hub's
    MultiSegmentPacker does (round-robin truncation, segment ids, right padding),
    empty rows and rows longer than seq_len included, eagerly and traced."""
    packer = keras_hub.layers.MultiSegmentPacker(sequence_length=seq_len, start_value=CLS,
                                                 end_value=SEP, pad_value=-1)
    traced = tf.function(lambda segments: pack_segments(segments, seq_len, CLS, SEP, -1))
    rng = np.random.default_rng(seq_len)
    for _ in range(10):
        first, second = (tf.ragged.constant(
            [list(rng.integers(5, 50, rng.integers(0, 2 * seq_len))) for _ in range(6)],
            dtype=tf.int32, ragged_rank=1) for _ in range(2))
        for segments in ([first], [first, second]):
            expected = [t.numpy() for t in packer(tuple(segments))]
            for ours in (pack_segments(segments, seq_len, CLS, SEP, -1), traced(segments)):
                for got, want in zip(ours, expected):
                    np.testing.assert_array_equal(got.numpy(), want)
