"""WordPiece vocab training and encoding; MLM masking statistics."""
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tasks.mlm import MaskedLM, MlmConfig, choose_mask_positions, corrupt_tokens
from zoo.data.builtin import generate_lines
from zoo.data.tokenizers.wordpiece import SPECIAL_TOKENS, WordPieceEncoder, read_vocab, train_wordpiece_vocab

#: A hand-written vocab, so token ids are known exactly.
TINY_VOCAB = list(SPECIAL_TOKENS) + ["the", "cat", "sat", "on", "mat", "##s", "."]
THE, CAT, SAT, ON, MAT, PLURAL_S, DOT = range(5, 12)
PAD, UNK, CLS, SEP, MASK = range(5)


def write_vocab(path, tokens, trailer="\n"):
    path.write_text("\n".join(tokens) + trailer, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tiny_vocab(tmp_path_factory):
    return write_vocab(tmp_path_factory.mktemp("tiny") / "vocab.txt", TINY_VOCAB)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(path, returned vocab) of a vocab trained on a small in-memory dataset."""
    directory = tmp_path_factory.mktemp("trained")
    texts = tf.data.Dataset.from_tensor_slices(generate_lines(400, seed=4))
    path = str(directory / "vocab.txt")
    return path, train_wordpiece_vocab(texts, 300, path)


@pytest.fixture(scope="module")
def encoder(trained):
    return WordPieceEncoder(trained[0], seq_len=48)


# -- vocab ------------------------------------------------------------------------

def test_uncased_encoding_equals_keras_hubs_lowercasing_tokenizer(tiny_vocab):
    """WordPieceEncoder folds case and strips accents on whole strings, before keras-hub
    splits words (cheap to trace); it tokenizes as keras-hub's own lowercasing
    tokenizer does, special tokens in the text included."""
    import keras_hub
    texts = tf.constant(["The CATS sat on the MAT.", "Thé cät [MASK] the Mat", "[CLS] cat [SEP]",
                         "[mask] and [Mask] are text", "ÀÉÎ cat", "", "  Cat  .  "])
    reference = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=TINY_VOCAB, lowercase=True, strip_accents=True,
        special_tokens=list(SPECIAL_TOKENS), special_tokens_in_strings=True)
    ours = WordPieceEncoder(tiny_vocab, seq_len=16).tokenize(texts)
    assert ours.to_list() == reference(texts)  # (keras-hub returns eager results as lists)
    assert ours.to_list()[1] == [THE, CAT, MASK, THE, MAT]
    cased = WordPieceEncoder(tiny_vocab, seq_len=16, lowercase=False).tokenize(texts)
    assert cased.to_list()[0][:2] == [UNK, UNK]  # "The", "CATS": not in the vocab


def test_trained_vocab_starts_with_special_tokens(trained):
    path, vocab = trained
    assert tuple(vocab[:5]) == SPECIAL_TOKENS
    assert len(vocab) <= 300 and len(set(vocab)) == len(vocab)
    assert {"the", "garden", "cat"} <= set(vocab) and any(t.startswith("##") for t in vocab)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "\n".join(vocab) + "\n"
    assert os.listdir(os.path.dirname(path)) == ["vocab.txt"]  # no temporary file left
    assert read_vocab(path) == vocab


def test_train_vocab_lowercases_by_default(tmp_path):
    texts = tf.data.Dataset.from_tensor_slices(["Hello World", "HELLO there"] * 10)
    vocab = train_wordpiece_vocab(texts, 40, str(tmp_path / "v.txt"))
    assert tuple(vocab[:5]) == SPECIAL_TOKENS
    assert "hello" in vocab and not any(t in vocab for t in ("Hello", "HELLO", "World"))


def test_vocab_without_mask_is_rejected(tmp_path):
    path = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"])
    with pytest.raises(ValueError) as error:
        read_vocab(path)
    assert str(error.value) == (f"vocab file '{path}' lacks the special tokens [MASK]; they "
                                "must each be on a line of their own")
    path = write_vocab(tmp_path / "v2.txt", ["[PAD]", "[CLS] [UNK]", "[SEP]", " [MASK]"])
    with pytest.raises(ValueError) as error:
        WordPieceEncoder(path, seq_len=8)
    assert str(error.value) == (f"vocab file '{path}' lacks the special tokens [UNK], [CLS], "
                                "[MASK]; they must each be on a line of their own")


def test_read_vocab_drops_trailing_blank_lines(tmp_path):
    path = write_vocab(tmp_path / "v.txt", TINY_VOCAB, trailer="\r\n\n\n")
    assert read_vocab(path) == TINY_VOCAB


# -- encoding -----------------------------------------------------------------------

def test_encode_single_texts(tiny_vocab):
    encoder = WordPieceEncoder(tiny_vocab, seq_len=32)
    assert encoder.special_ids == (PAD, UNK, CLS, SEP, MASK) and encoder.vocabulary_size == 12
    ids, segments, mask = encoder.encode(tf.constant(["The cat SAT", "cats on the mat .",
                                                      "the dog [MASK]"]))
    assert ids.dtype == segments.dtype == mask.dtype == tf.int32
    np.testing.assert_array_equal(ids, [[CLS, THE, CAT, SAT, SEP, PAD, PAD, PAD],
                                        [CLS, CAT, PLURAL_S, ON, THE, MAT, DOT, SEP],
                                        [CLS, THE, UNK, MASK, SEP, PAD, PAD, PAD]])
    np.testing.assert_array_equal(mask, [[1] * 5 + [0] * 3, [1] * 8, [1] * 5 + [0] * 3])
    np.testing.assert_array_equal(segments, np.zeros((3, 8)))


@pytest.mark.parametrize("words,seq_len,trim,width", [
    (1, 32, True, 8),     # [CLS] w [SEP]: 3 tokens -> 8
    (6, 32, True, 8),     # 8 tokens -> 8
    (7, 32, True, 16),    # 9 tokens -> 16
    (17, 20, True, 20),   # 19 tokens -> 24, capped at seq_len
    (40, 20, True, 20),   # truncated
    (1, 20, False, 20),   # no trimming: always seq_len
])
def test_encode_width_is_a_multiple_of_8(tiny_vocab, words, seq_len, trim, width):
    encoder = WordPieceEncoder(tiny_vocab, seq_len=seq_len, trim_padding=trim)
    ids, _, mask = encoder.encode(tf.constant(["the " * words, "cat"]))
    assert ids.shape == mask.shape == (2, width)
    tokens = min(words + 2, seq_len)
    np.testing.assert_array_equal(mask[0], [1] * tokens + [0] * (width - tokens))
    assert ids[0, tokens - 1] == SEP and ids[0, 0] == CLS
    np.testing.assert_array_equal(mask, tf.cast(ids != PAD, tf.int32))


def test_encode_pairs(tiny_vocab):
    encoder = WordPieceEncoder(tiny_vocab, seq_len=32)
    ids, segments, mask = encoder.encode(tf.constant(["the cat", "mat"]),
                                         tf.constant(["sat on the mat", "cat"]))
    np.testing.assert_array_equal(ids, [[CLS, THE, CAT, SEP, SAT, ON, THE, MAT, SEP] +
                                        [PAD] * 7,
                                        [CLS, MAT, SEP, CAT, SEP] + [PAD] * 11])
    np.testing.assert_array_equal(segments[0], [0] * 4 + [1] * 5 + [0] * 7)
    np.testing.assert_array_equal(segments[1], [0] * 3 + [1] * 2 + [0] * 11)
    assert mask.numpy().sum() == 9 + 5


def test_encode_with_the_trained_vocab(encoder):
    ids, segments, mask = encoder.encode(tf.constant(["the cat runs .", "the [MASK] sleeps"]),
                                         tf.constant(["in the garden", "at night"]))
    assert ids.dtype == mask.dtype == tf.int32 and ids.shape[1] % 8 == 0
    assert ids.shape[1] < 48
    row = ids.numpy()[1][mask.numpy()[1] == 1]
    tokens = [encoder.vocabulary[i] for i in row]
    assert tokens[0] == "[CLS]" and tokens[2] == "[MASK]" and tokens.count("[SEP]") == 2
    assert segments.numpy()[1][len(tokens) - 1] == 1 and segments.numpy()[1][0] == 0


# -- masking ----------------------------------------------------------------------------

VOCAB_SIZE, SEQ_LEN, ROWS, SPECIAL = 1000, 64, 4096, (PAD, UNK, CLS, SEP, MASK)


@pytest.fixture(scope="module")
def batch():
    """Encoder-like ids: [CLS] words [SEP] [PAD]..., some [UNK]s among the words."""
    rng = np.random.default_rng(0)
    ids = np.zeros((ROWS, SEQ_LEN), np.int32)
    for row, length in enumerate(rng.integers(3, SEQ_LEN + 1, ROWS)):
        ids[row, :length] = rng.integers(5, VOCAB_SIZE, length)
        ids[row, 0], ids[row, length - 1] = CLS, SEP
        ids[row, 1:length - 1][rng.random(length - 2) < 0.05] = UNK
    ids[-1] = [CLS, SEP] + [PAD] * (SEQ_LEN - 2)  # no candidates at all
    ids[-2, :3] = [CLS, 42, SEP]                    # one candidate
    ids[-2, 3:] = PAD
    return ids


def mask_batch(ids, seed, config=MlmConfig()):
    max_predictions = math.ceil(SEQ_LEN * config.mask_rate)
    choose_seed = tf.constant([seed, 1], tf.int64)
    positions, weights = choose_mask_positions(tf.constant(ids), SPECIAL, config.mask_rate,
                                               max_predictions, choose_seed)
    masked, labels = corrupt_tokens(tf.constant(ids), positions, weights, config, MASK,
                                    VOCAB_SIZE, tf.constant([seed, 2], tf.int64))
    return positions.numpy(), weights.numpy(), masked.numpy(), labels.numpy()


def chosen_matrix(positions, weights):
    chosen = np.zeros((len(positions), SEQ_LEN), bool)
    for row in range(len(positions)):
        chosen[row, positions[row][weights[row] > 0]] = True
    return chosen


def test_mask_positions_count_and_layout(batch):
    positions, weights, _, _ = mask_batch(batch, seed=3)
    assert positions.shape == weights.shape == (ROWS, math.ceil(SEQ_LEN * 0.15))
    assert set(np.unique(weights)) == {0.0, 1.0}
    candidates = ~np.isin(batch, SPECIAL)
    n = candidates.sum(1).astype(np.float32)
    expected = np.minimum(np.maximum(np.round(n * np.float32(0.15)), np.minimum(n, 1)),
                          positions.shape[1])
    np.testing.assert_array_equal(weights.sum(1), expected)
    assert weights[-1].sum() == 0 and weights[-2].sum() == 1 and positions[-2, 0] == 1
    for row in range(ROWS):
        used = int(weights[row].sum())
        assert (weights[row, :used] == 1).all() and (weights[row, used:] == 0).all()
        assert (np.diff(positions[row, :used]) > 0).all()  # sorted, distinct
        assert (positions[row, used:] == 0).all()


def test_mask_rate_and_no_special_tokens(batch):
    positions, weights, _, _ = mask_batch(batch, seed=5)
    chosen = chosen_matrix(positions, weights)
    special = np.isin(batch, SPECIAL)
    assert not (chosen & special).any(), "special tokens ([UNK] included) are never chosen"
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    # Every word position is about equally likely to be chosen.
    rate_by_column = chosen[:, 1:40].sum(0) / (~special[:, 1:40]).sum(0)
    assert rate_by_column.min() > 0.11 and rate_by_column.max() < 0.19


def test_replacement_split_80_10_10(batch):
    positions, weights, masked, labels = mask_batch(batch, seed=7)
    chosen = chosen_matrix(positions, weights)
    original = batch[chosen]
    became = masked[chosen]
    assert len(original) > 15000
    share_mask = (became == MASK).mean()
    share_random = ((became != MASK) & (became != original)).mean()
    share_kept = (became == original).mean()
    assert abs(share_mask - 0.8) < 0.015
    assert abs(share_random - 0.1) < 0.015 and abs(share_kept - 0.1) < 0.015
    assert ((became >= 0) & (became < VOCAB_SIZE)).all()
    assert (masked[~chosen] == batch[~chosen]).all(), "only chosen positions change"
    # Labels are the original ids at the chosen positions (row-major, as positions are sorted).
    np.testing.assert_array_equal(labels[weights > 0], original)


def test_replacement_rates_follow_the_config(batch):
    _, weights, masked, _ = mask_batch(batch, seed=7, config=MlmConfig(
        mask_token_rate=1.0, random_token_rate=0.0))
    positions, weights, _, _ = mask_batch(batch, seed=7)
    chosen = chosen_matrix(positions, weights)
    assert (masked[chosen] == MASK).all()
    _, _, masked, _ = mask_batch(batch, seed=7, config=MlmConfig(
        mask_token_rate=0.0, random_token_rate=0.0))
    np.testing.assert_array_equal(masked, batch)


def test_masking_is_seeded(batch):
    first, again, other = (mask_batch(batch[:64], seed=s) for s in (11, 11, 12))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert (first[0] != other[0]).any() and (first[2] != other[2]).any()


def test_preprocess_masking_statistics(encoder):
    task = MaskedLM(MlmConfig(packing=False), encoder)
    assert task.max_predictions == math.ceil(48 * 0.15)
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
    np.testing.assert_array_equal(labels[weights > 0], original[chosen])
    became, kept = masked[chosen], original[chosen]
    assert abs((became == encoder.mask_id).mean() - 0.8) < 0.03
    assert 0.07 < (became == kept).mean() < 0.14
    assert (masked[~chosen] == original[~chosen]).all()
    np.testing.assert_array_equal(features["padding_mask"].numpy(), original != encoder.pad_id)


def test_preprocess_is_seeded(encoder):
    task = MaskedLM(MlmConfig(packing=False), encoder)
    texts = {"text": tf.constant(generate_lines(32, seed=5))}
    first = task.preprocess(texts, seed=tf.constant([0, 7], tf.int64))[0]["token_ids"]
    again = task.preprocess(texts, seed=tf.constant([0, 7], tf.int64))[0]["token_ids"]
    other = task.preprocess(texts, seed=tf.constant([0, 8], tf.int64))[0]["token_ids"]
    np.testing.assert_array_equal(first, again)
    assert (first.numpy() != other.numpy()).any()


def test_a_chosen_first_position_is_masked():
    ids = tf.constant([[7, 8]] * 64, tf.int32)
    positions, weights = choose_mask_positions(ids, SPECIAL, 0.5, 2, tf.constant([0, 1], tf.int64))
    masked, _ = corrupt_tokens(ids, positions, weights, MlmConfig(mask_token_rate=1.0),
                               MASK, VOCAB_SIZE, tf.constant([0, 2], tf.int64))
    assert ((positions[:, 0] == 0) & (weights[:, 0] > 0)).numpy().any()
    assert (tf.reduce_sum(tf.cast(masked == MASK, tf.int32), axis=1) == 1).numpy().all()


@pytest.mark.parametrize("batching", ["plain", "bucket"])
def test_training_stream_depends_on_the_seed_and_start_batch_only(encoder, tmp_path, batching):
    """A resumed run must see the batches an uninterrupted one saw: other iterators of
    the same dataset (reading ahead across epochs) must not change the order."""
    from zoo.data.pipeline.stream import training_dataset
    path = tmp_path / "c.txt"
    path.write_text("\n".join(generate_lines(40, seed=2)) + "\n", encoding="utf-8")
    task = MaskedLM(MlmConfig(packing=batching == "plain"), encoder)

    def batches(start_batch, count, read_ahead=0):
        ds = training_dataset([str(path)], task, 8, seed=3, shuffle_buffer=40,
                              start_batch=start_batch, batching=batching)
        other = iter(ds)
        for _ in range(read_ahead):  # three epochs of 5 batches
            next(other)
        it = iter(ds)
        return [next(it)[0]["token_ids"].numpy() for _ in range(count)]

    def same(a, b):
        return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

    straight = batches(0, 12)
    assert same(batches(0, 12, read_ahead=15), straight)
    assert same(batches(7, 5), straight[7:])


# -- length bucketing (--batching=bucket) ----------------------------------------

class RawText(MaskedLM):
    """MLM whose 'preprocessing' returns the raw batch, to see which examples it holds."""
    def preprocess(self, examples, seed=None):
        return examples["text"]


def stream(encoder, tmp_path, batching, task_class=MaskedLM, batches=30, batch_size=8):
    from zoo.data.pipeline.stream import training_dataset
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(generate_lines(40, seed=2)) + "\n", encoding="utf-8")
    ds = training_dataset([str(path)], task_class(MlmConfig(packing=False), encoder), batch_size, seed=1,
                          shuffle_buffer=40, batching=batching)
    return [element for element in ds.take(batches).as_numpy_iterator()]


def test_bucketed_batches_pad_less(encoder, tmp_path):
    def padding(batching):
        masks = [features["padding_mask"] for features, _, _ in stream(encoder, tmp_path, batching)]
        assert all(mask.shape[0] == 8 for mask in masks)  # every batch is full
        return 1 - sum(mask.sum() for mask in masks) / sum(mask.size for mask in masks)
    plain, bucket = padding("plain"), padding("bucket")
    assert plain > 0.3 and bucket < plain / 2, (plain, bucket)


def test_bucketed_batches_hold_one_bucket_and_every_example(encoder, tmp_path):
    from zoo.data.pipeline.bucketing import bucket_boundaries
    edges = bucket_boundaries(encoder.seq_len)
    batches = stream(encoder, tmp_path, "bucket", RawText, batches=100, batch_size=4)
    for batch in batches:
        assert len(batch) == 4 and len({np.searchsorted(edges, len(t), "right") for t in batch}) == 1
    counts = {}
    for text in np.concatenate(batches):
        counts[text] = counts.get(text, 0) + 1
    assert set(counts) == {t.encode() for t in generate_lines(40, seed=2)}
    # 100 batches of 4 are 10 epochs of 40; a bucket holds back at most 3 examples
    assert 10 - 3 <= min(counts.values()) and max(counts.values()) <= 10 + 3, counts


# -- packed MLM (the default) ----------------------------------------------------

def test_packed_mlm_keeps_every_token_once_per_epoch(encoder, tmp_path):
    """Documents longer than a row are cut into contiguous windows: one epoch of
    rows holds every token of every document exactly once, in order."""
    from zoo.data.formats.readers import read_examples
    lines = [" ".join(generate_lines(6, seed=s)) for s in range(5)]  # several rows each
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = MaskedLM(MlmConfig(), encoder)
    rows = np.stack(list(task.example_stream(
        read_examples([str(path)], ("text",), "line")).as_numpy_iterator()))
    width = encoder.seq_len
    assert rows.shape[1] == width and (rows[:, 0] == encoder.cls_id).all() \
        and (rows[:, -1] == encoder.sep_id).all()
    expected = np.concatenate([np.append(encoder.tokenize(tf.constant([line]))[0].numpy(),
                                         encoder.sep_id) for line in lines])
    inner = rows[:, 1:-1].reshape(-1)
    assert len(expected) - len(inner) < width - 2  # only the last partial window is left
    np.testing.assert_array_equal(inner, expected[:len(inner)])
    assert max(len(encoder.tokenize(tf.constant([line]))[0]) for line in lines) > width
    features, labels, weights = task.preprocess(rows[:8], seed=tf.constant([1, 2], tf.int64))
    assert (features["padding_mask"].numpy() == 1).all()
    np.testing.assert_array_equal(labels.numpy()[weights.numpy() > 0],
                                  rows[:8][np.arange(8)[:, None], features["mask_positions"].numpy()][weights.numpy() > 0])


def test_packed_mlm_refuses_bucketing():
    from zoo.data.pipeline.bucketing import check_bucketing
    with pytest.raises(ValueError, match="packing=false"):
        check_bucketing(MaskedLM, MlmConfig())
    check_bucketing(MaskedLM, MlmConfig(packing=False))
