"""In-graph WordPiece tokenization (keras-hub on tensorflow-text) and vocab training.

Example:
    >>> vocab = train_wordpiece_vocab(texts_dataset, vocab_size=8000, path="run/vocab.txt")
    >>> encoder = TextEncoder("run/vocab.txt", seq_len=128)
    >>> ids, segments, mask = encoder.encode(tf.constant(["hello world"]))
    >>> ids.shape
    TensorShape([1, 128])
"""
import keras_hub
import tensorflow as tf

from zoo.fileio import atomic_write_text

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)


def train_wordpiece_vocab(texts, vocab_size, path, lowercase=True):
    """Learns a WordPiece vocab from a dataset of strings and writes it atomically.

    Returns the list of tokens; special tokens come first ([PAD] is id 0).
    """
    batched = texts.batch(1024).prefetch(tf.data.AUTOTUNE)
    vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        batched, vocabulary_size=vocab_size, lowercase=lowercase,
        strip_accents=lowercase, reserved_tokens=list(SPECIAL_TOKENS))
    atomic_write_text(path, "\n".join(vocab) + "\n")
    return vocab


def read_vocab(path):
    with open(path, encoding="utf-8") as handle:
        vocab = [line.rstrip("\r\n") for line in handle]
    while vocab and not vocab[-1]:
        vocab.pop()
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"vocab file '{path}' lacks the special tokens "
                         f"{', '.join(missing)}; they must each be on a line of their own")
    return vocab


class TextEncoder:
    """Tokenizes and packs raw strings into fixed-length id tensors, in graph.

    `encode` maps one or two 1-D string tensors to `(token_ids, segment_ids,
    padding_mask)`, each int32 of shape [batch, width]:
    `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated round-robin. With
    `trim_padding` the width is that of the batch's longest row (rounded up to
    a multiple of 8) instead of seq_len.
    """

    def __init__(self, vocab_path, seq_len, lowercase=True, trim_padding=True):
        self.vocab_path = vocab_path
        self.trim_padding = trim_padding
        self.vocabulary = read_vocab(vocab_path)
        self.seq_len = seq_len
        self.lowercase = lowercase
        self.tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=self.vocabulary, lowercase=lowercase, strip_accents=lowercase,
            special_tokens=list(SPECIAL_TOKENS), special_tokens_in_strings=True)
        ids = {token: i for i, token in enumerate(self.vocabulary)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            ids[t] for t in SPECIAL_TOKENS)
        self.special_ids = (self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id)
        self.packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length=seq_len, start_value=self.cls_id, end_value=self.sep_id,
            pad_value=self.pad_id)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def tokenize(self, texts):
        """1-D strings -> ragged int32 ids, no special tokens added."""
        return self.tokenizer(texts)

    def encode(self, texts, pair_texts=None):
        segments = (self.tokenize(texts),) if pair_texts is None else (
            self.tokenize(texts), self.tokenize(pair_texts))
        token_ids, segment_ids = self.packer(segments)
        padding_mask = tf.cast(token_ids != self.pad_id, tf.int32)
        if self.trim_padding:
            # Cut the batch to its longest row (rounded up to a multiple of 8):
            # no compute is spent on columns that are padding in every row.
            longest = tf.reduce_max(tf.reduce_sum(padding_mask, axis=1))
            width = tf.minimum((longest + 7) // 8 * 8, self.seq_len)
            token_ids, segment_ids, padding_mask = (
                t[:, :width] for t in (token_ids, segment_ids, padding_mask))
        return token_ids, segment_ids, padding_mask

    def id_to_token(self, ids):
        return self.tokenizer.id_to_token(ids) if isinstance(ids, int) else \
            tf.gather(tf.constant(self.vocabulary), ids)


SENTENCEPIECE_TYPES = ("unigram", "bpe")


def train_sentencepiece(texts, vocab_size, model_path, model_type="unigram"):
    """Trains a SentencePiece model (unigram or BPE) from an iterable of strings
    and writes `model_path` (and the matching `.vocab`) atomically.

    The model loads in-graph with `tensorflow_text.SentencepieceTokenizer`;
    ids 0-3 are <pad>, <unk>, <s>, </s>, and [MASK] is a user-defined piece.
    """
    import os
    import shutil
    import tempfile

    import sentencepiece

    if model_type not in SENTENCEPIECE_TYPES:
        raise ValueError(f"unknown SentencePiece type '{model_type}'; choose from "
                         f"{', '.join(SENTENCEPIECE_TYPES)}")
    directory = os.path.dirname(os.path.abspath(model_path))
    os.makedirs(directory, exist_ok=True)
    workdir = tempfile.mkdtemp(dir=directory, prefix=".spm-tmp-")
    try:
        corpus = os.path.join(workdir, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as handle:
            for text in texts:
                handle.write(text.replace("\n", " ") + "\n")
        prefix = os.path.join(workdir, "spm")
        sentencepiece.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
            character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            user_defined_symbols=[MASK], hard_vocab_limit=False, minloglevel=2)
        vocab_path = os.path.splitext(model_path)[0] + ".vocab"
        os.replace(prefix + ".vocab", vocab_path)
        os.replace(prefix + ".model", model_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return model_path
