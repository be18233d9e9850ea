"""WordPiece vocab training and encoding; MLM masking statistics."""
import numpy as np
import pytest
import tensorflow as tf

from tasks.mlm import MaskedLM, MlmConfig
from zoo.data.builtin import generate_lines
from zoo.data.tokenizer import SPECIAL_TOKENS, TextEncoder, read_vocab, train_wordpiece_vocab


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    texts = tf.data.Dataset.from_tensor_slices(generate_lines(500, seed=4))
    train_wordpiece_vocab(texts, 400, path)
    return TextEncoder(path, seq_len=48)


def test_trained_vocab_starts_with_special_tokens(encoder):
    assert tuple(encoder.vocabulary[:5]) == SPECIAL_TOKENS
    assert "garden" in encoder.vocabulary and encoder.pad_id == 0


def test_vocab_without_mask_is_rejected(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(ValueError) as error:
        read_vocab(str(path))
    assert str(error.value) == (f"vocab file '{path}' lacks the special tokens [MASK]; they "
                                "must each be on a line of their own")


def test_encode_packs_and_trims(encoder):
    ids, segments, mask = encoder.encode(tf.constant(["the cat runs .", "the [MASK] sleeps"]),
                                         tf.constant(["in the garden", "at night"]))
    assert ids.dtype == mask.dtype == tf.int32 and ids.shape[1] % 8 == 0
    assert ids.shape[1] < 48
    row = ids.numpy()[1][mask.numpy()[1] == 1]
    tokens = [encoder.vocabulary[i] for i in row]
    assert tokens[0] == "[CLS]" and tokens[2] == "[MASK]" and tokens.count("[SEP]") == 2
    assert segments.numpy()[1][len(tokens) - 1] == 1 and segments.numpy()[1][0] == 0


def test_masking_statistics(encoder):
    task = MaskedLM(MlmConfig(), encoder)
    texts = tf.constant(generate_lines(512, seed=9))
    original, _, _ = encoder.encode(texts)
    features, labels, weights = task.preprocess({"text": texts}, seed=tf.constant([1, 2], tf.int64))
    original, masked = original.numpy(), features["token_ids"].numpy()
    positions, weights, labels = (features["mask_positions"].numpy(), weights.numpy(),
                                  labels.numpy())
    special = np.isin(original, encoder.special_ids)
    chosen = np.zeros_like(original, bool)
    for row in range(len(original)):
        chosen[row, positions[row][weights[row] > 0]] = True
    assert not (chosen & special).any(), "special tokens are never masked"
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    assert (chosen.sum(1) >= 1).all()
    # Positions are sorted within a row, so labels follow the row-major order of `chosen`.
    np.testing.assert_array_equal(labels[weights > 0], original[chosen])
    became = masked[chosen]
    kept = original[chosen]
    share_mask = (became == encoder.mask_id).mean()
    share_same = (became == kept).mean()
    assert abs(share_mask - 0.8) < 0.03 and 0.07 < share_same < 0.14
    assert (masked[~chosen] == original[~chosen]).all()


def test_masking_is_seeded(encoder):
    task = MaskedLM(MlmConfig(), encoder)
    texts = {"text": tf.constant(generate_lines(32, seed=5))}
    first = task.preprocess(texts, seed=tf.constant([0, 7], tf.int64))[0]["token_ids"]
    again = task.preprocess(texts, seed=tf.constant([0, 7], tf.int64))[0]["token_ids"]
    other = task.preprocess(texts, seed=tf.constant([0, 8], tf.int64))[0]["token_ids"]
    np.testing.assert_array_equal(first, again)
    assert (first.numpy() != other.numpy()).any()
