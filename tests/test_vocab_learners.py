"""Vocabulary learning from word counts: the words are counted as the encoders
split them, small samples learn WordPiece top down and large ones by BPE,
whose vocab has the size asked for and covers its text
(no [UNK], about as few tokens per word as keras-hub's learner), the same
counts give the same vocab, and SentencePiece models trained from word counts
round-trip their text and come out byte for byte the same."""
import random
import string

import pytest
import tensorflow as tf

from zoo.data.builtin import generate_lines
from zoo.data.tokenizers.spm import SentencePieceEncoder
from zoo.data.tokenizers.wordpiece import (SPECIAL_TOKENS, WordPieceEncoder, bert_normalize,
                                           split_words)
from zoo.data.tokenizers.vocab_learners import (learn_wordpiece, train_sentencepiece,
                                     train_wordpiece_vocab)
from zoo.data.tokenizers.word_counts import count_whitespace_words, count_words

#: Strings whose normalisation or split is not plain ASCII.
TRICKY = ["Héllo, WORLD!! naïve café", "ÀÉÎ [MASK] ß straße İstanbul", "東京は 晴れ。中文字",
          "a\u200bb soft\u00adhyphen", "tab\tand\u00a0nbsp\u2003em", "“quotes” — dash… ½ ﬁne",
          "e\u0301 combining", "ctrl\x01char \x7fdel", "x_y a-b c'd 3.14 $5 #tag @me",
          "Ελληνικά Русский עברית العربية ΟΔΟΣ", "emoji 🙂 here", "   ", "",
          "a\x00b nul", "x\x1cy\x85z", "한국어 ＡＢＣ Ⅻ", "\U000e0001tag \ue000pua"]


def reference_counts(texts, lowercase=True):
    """The words WordPieceEncoder looks up (its split after its normalisation),
    counted."""
    words = split_words(bert_normalize(tf.constant(texts), lowercase)).flat_values.numpy()
    counts = {}
    for word in words:
        counts[word.decode("utf-8")] = counts.get(word.decode("utf-8"), 0) + 1
    return counts


@pytest.mark.parametrize("lowercase", [True, False])
def test_words_are_counted_as_the_wordpiece_encoder_splits_them(lowercase):
    texts = TRICKY + generate_lines(200, seed=3)
    assert count_words(["a\u00a0b c\x0bd e\u200bf"], lowercase) == \
        {"a": 1, "b": 1, "cd": 1, "ef": 1}
    assert count_words(texts, lowercase) == reference_counts(texts, lowercase)
    assert count_words(tf.data.Dataset.from_tensor_slices(texts), lowercase) == \
        count_words(texts, lowercase)


def test_whitespace_words_are_counted_in_order_of_appearance():
    texts = ["b a b", "c\ta\n b", ""] * 700  # (more than a chunk of texts)
    assert count_whitespace_words(texts) == {"b": 2100, "a": 1400, "c": 700}
    assert list(count_whitespace_words(texts)) == ["b", "a", "c"]


def tokens_per_word(vocab_path, texts):
    encoder = WordPieceEncoder(vocab_path, seq_len=64)
    ids = encoder.tokenize(tf.constant(texts)).flat_values.numpy().tolist()
    return len(ids) / sum(reference_counts(texts).values()), ids.count(encoder.unk_id)


@pytest.fixture
def bpe_always(monkeypatch):
    """train_wordpiece_vocab learns by BPE merges whatever the number of words."""
    import zoo.data.tokenizers.vocab_learners
    monkeypatch.setattr(zoo.data.tokenizers.vocab_learners, "TOP_DOWN_MAX_WORDS", 0)


@pytest.mark.parametrize("size", [300, 1000])
def test_wordpiece_vocab_covers_its_text(size, tmp_path, capsys, bpe_always):
    """Every character in both forms, and (the 75 words of generate_lines fit)
    every word a token: one token per word, no [UNK], on held-out lines too."""
    texts = generate_lines(3000, seed=4)
    vocab = train_wordpiece_vocab(texts, size, str(tmp_path / "vocab.txt"))
    assert vocab[:5] == list(SPECIAL_TOKENS) and len(set(vocab)) == len(vocab)
    words = count_words(texts)
    assert set(words) <= set(vocab) and (len(vocab) == size or size == 1000)
    chars = {char for text in texts for char in text.lower() if not char.isspace()}
    assert {t for c in chars for t in (c, "##" + c)} <= set(vocab)
    for sample in (texts, generate_lines(500, seed=5)):
        assert tokens_per_word(str(tmp_path / "vocab.txt"), sample) == (1.0, 0)
    assert capsys.readouterr().out.count("wordpiece: ") == 1


def zipf_lines(num_lines, seed):
    """Lines of made-up words (stems and suffixes) drawn with Zipf's law."""
    rng = random.Random(0)
    stems = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 7)))
             for _ in range(600)]
    words = [stem + end for stem in stems for end in ("", "s", "ed", "ing", "er", "ly")]
    rng.shuffle(words)
    weights = [1 / rank for rank in range(1, len(words) + 1)]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, weights, k=15)) + " ." for _ in range(num_lines)]


def test_wordpiece_vocab_splits_words_about_as_keras_hubs_learner(tmp_path, bpe_always):
    """With 1,000 tokens for 3,400 made-up words, BPE's pieces take at most 8%
    more tokens per word than keras-hub's learner (on English, fewer: README)."""
    import keras_hub
    texts = zipf_lines(4000, seed=1)
    vocab = train_wordpiece_vocab(texts, 1000, str(tmp_path / "ours.txt"))
    theirs = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts).batch(512).map(bert_normalize), 1000,
        reserved_tokens=list(SPECIAL_TOKENS))
    (tmp_path / "theirs.txt").write_text("\n".join(theirs) + "\n")
    assert len(vocab) == 1000 >= len(theirs)
    for sample in (texts, zipf_lines(500, seed=2)):
        ours, unknown = tokens_per_word(str(tmp_path / "ours.txt"), sample)
        assert unknown == 0
        assert ours <= 1.08 * tokens_per_word(str(tmp_path / "theirs.txt"), sample)[0]


def test_small_samples_learn_whole_words_top_down(tmp_path, capsys):
    """75 distinct words: tensorflow-text's learner, whole words first."""
    texts = generate_lines(3000, seed=4)
    vocab = train_wordpiece_vocab(texts, 200, str(tmp_path / "vocab.txt"))
    assert "tokens at count threshold" in capsys.readouterr().out
    assert set(count_words(texts)) <= set(vocab) and len(vocab) <= 200
    assert tokens_per_word(str(tmp_path / "vocab.txt"), texts) == (1.0, 0)


def test_wordpiece_learning_is_a_function_of_the_counts():
    counts = count_words(generate_lines(2000, seed=6))
    shuffled = list(counts.items())
    random.Random(1).shuffle(shuffled)
    vocab = learn_wordpiece(counts, 250, ["[PAD]", "[UNK]", "<extra_id_0>"])
    assert vocab == learn_wordpiece(dict(shuffled), 250, ["[PAD]", "[UNK]", "<extra_id_0>"])
    assert vocab[:3] == ["[PAD]", "[UNK]", "<extra_id_0>"] and len(vocab) == 250
    with pytest.raises(ValueError, match="no words to learn a WordPiece vocabulary from"):
        learn_wordpiece({}, 250, ["[PAD]"])


def test_rare_characters_and_long_words_are_left_out():
    counts = {"a" * 60: 1000, "ab": 50, **{chr(0x4E00 + i): 1 for i in range(1200)}}
    vocab = learn_wordpiece(counts, 5000, ["[UNK]"])
    assert "a" * 60 not in vocab and "ab" in vocab
    assert sum(1 for token in vocab if len(token) == 1) <= 1000


@pytest.mark.parametrize("kind", ["unigram", "bpe"])
def test_sentencepiece_from_word_counts_round_trips_and_repeats(kind, tmp_path):
    texts = generate_lines(1500, seed=7) + ["Mixed CASE, punctuation; and ünïcödé!"] * 20
    sizes = [train_sentencepiece(texts, 400, str(tmp_path / f"{run}.model"), kind, ("<x>",))
             for run in ("a", "b")]
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
    assert (tmp_path / "a.vocab").read_bytes() == (tmp_path / "b.vocab").read_bytes()
    encoder = SentencePieceEncoder(str(tmp_path / "a.model"), seq_len=64)
    assert sizes[0] == encoder.vocabulary_size <= 400
    assert encoder.vocabulary[:6] == ["<pad>", "<unk>", "<s>", "</s>", "[MASK]", "<x>"]
    sample = tf.constant(texts[-25:])
    ids = encoder.tokenize(sample)
    assert encoder.unk_id not in ids.flat_values.numpy().tolist()
    assert encoder.detokenize(ids).numpy().tolist() == sample.numpy().tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.model", "a.vocab", "b.model",
                                                          "b.vocab"]
