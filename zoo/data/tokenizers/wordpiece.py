"""Text encoders: in-graph tokenization (keras-hub on tensorflow-text), packing,
and detokenization. WordPiece vocabs are trained by `train_wordpiece_vocab`
(`zoo.data.tokenizers.vocab_learners`, without TensorFlow).

`TextEncoder` is the interface every tokenizer kind implements (WordPiece
here; SentencePiece in `zoo.data.tokenizers.spm`; characters and bytes in
`zoo.data.tokenizers.chars`; GPT-2's byte-level BPE in `zoo.data.tokenizers.bpe`);
`zoo.data.tokenizers.encoders.load_encoder` picks one by name.

Example:
    >>> vocab = train_wordpiece_vocab(texts_dataset, vocab_size=8000, path="run/vocab.txt")
    >>> encoder = WordPieceEncoder("run/vocab.txt", seq_len=128)
    >>> ids, segments, mask = encoder.encode(tf.constant(["hello world"]))
    >>> ids.shape
    TensorShape([1, 128])
"""
import re

import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from zoo import fileio
from zoo.data.tokenizers.segment_packing import pack_segments
from zoo.data.tokenizers.special_tokens import (  # noqa: F401  (the tokenizers' API too)
    CLS, MASK, NUM_SENTINELS, PAD, SEP, SPECIAL_TOKENS, UNK, sentinel_token)
from zoo.data.tokenizers.vocab_learners import train_wordpiece_vocab  # noqa: F401


def uncased(texts, keep=SPECIAL_TOKENS):
    """BERT's uncased normalisation of whole strings, in graph: accents stripped (NFD,
    combining marks removed), then case folded (NFKC casefold), with the `keep`
    tokens left as written, so "[MASK]" stays the mask token.

    keras-hub's WordPieceTokenizer can do this itself, but it folds case after
    splitting words, through a `tf.where` on ragged tensors that takes about a
    second of CPU to trace; every tf.data pipeline and every exported signature
    traces it again. Here it is a few string ops on the dense input. (The order
    differs from keras-hub's only for characters whose NFKC form holds
    punctuation: "…" becomes three "." tokens, as in Hugging Face's BERT.)

    >>> uncased(tf.constant(["Héllo [MASK] WORLD"])).numpy()
    array([b'hello [MASK] world'], dtype=object)
    """
    # Private-use characters hold the kept tokens' places: no normalisation or
    # case folding touches them.
    places = [chr(0xE000 + index) for index in range(len(keep))]
    for token, place in zip(keep, places):
        texts = tf.strings.regex_replace(texts, re.escape(token), place)
    texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
    texts = tf_text.case_fold_utf8(texts)
    for token, place in zip(keep, places):
        texts = tf.strings.regex_replace(texts, place, token.replace("\\", "\\\\"))
    return texts


def read_vocab(path):
    with fileio.open_file(path) as handle:
        vocab = [line.rstrip("\r\n") for line in handle]
    while vocab and not vocab[-1]:
        vocab.pop()
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        from zoo.data.formats.readers import DataError
        raise DataError(f"vocab file '{path}' lacks the special tokens "
                         f"{', '.join(missing)}; they must each be on a line of their own")
    return vocab


class TextEncoder:
    """Tokenizes and packs raw strings into fixed-length id tensors, in graph.

    Subclasses set `vocabulary` (id -> token string) and implement `tokenize`
    (1-D strings -> ragged int32 ids) and `_detokenize_ragged`. The special
    ids are looked up by token name: `special_tokens` gives the names of
    (pad, unk, bos/cls, eos/sep, mask); mask may be absent (None). Sentinel
    tokens `<extra_id_N>` (span corruption) are found when present.

    `encode` maps one or two 1-D string tensors to `(token_ids, segment_ids,
    padding_mask)`, each int32 of shape [batch, width]:
    `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated round-robin
    (zoo.data.tokenizers.segment_packing, as keras-hub's MultiSegmentPacker packs). With
    `trim_padding` the width is that of the batch's longest row (rounded up to
    a multiple of 8) instead of seq_len.
    """
    kind = ""

    def __init__(self, vocabulary, seq_len, special_tokens=SPECIAL_TOKENS, trim_padding=True,
                 vocab_path=""):
        self.vocabulary = list(vocabulary)
        self.vocab_path = vocab_path
        self.seq_len = seq_len
        self.trim_padding = trim_padding
        ids = {token: i for i, token in enumerate(self.vocabulary)}
        pad, unk, bos, eos, mask = special_tokens
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (ids[t] for t in (pad, unk, bos, eos))
        self.mask_id = ids.get(mask)
        self.bos_id, self.eos_id = self.cls_id, self.sep_id
        self.special_ids = tuple(i for i in (self.pad_id, self.unk_id, self.cls_id, self.sep_id,
                                             self.mask_id) if i is not None)
        sentinels = []
        while sentinel_token(len(sentinels)) in ids:
            sentinels.append(ids[sentinel_token(len(sentinels))])
        self.sentinel_ids = tuple(sentinels)
        self.pack_pad_id = self.pad_id  # what `encode` pads packed rows with

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def tokenize(self, texts):
        """1-D strings -> ragged int32 ids, no special tokens added."""
        raise NotImplementedError

    @staticmethod
    def _ragged(ids):
        # keras-hub tokenizers return Python lists when run eagerly.
        return ids if isinstance(ids, (tf.Tensor, tf.RaggedTensor)) else \
            tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1)

    def _detokenize_ragged(self, ids):
        raise NotImplementedError

    def detokenize(self, ids):
        """Ids ([batch, length], dense or ragged) -> 1-D strings; special and
        sentinel ids are left out, and so are ids past the vocabulary (a model's
        embedding may be larger, as T5's 32,128 rows for 32,000 pieces)."""
        ids = tf.cast(ids, tf.int32)
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        dropped = tf.constant(self.special_ids + self.sentinel_ids, tf.int32)
        keep = tf.reduce_all(ids[..., None] != dropped, axis=-1) & \
            (ids < len(self.vocabulary)) & (ids >= 0)
        strings = self._detokenize_ragged(tf.ragged.boolean_mask(ids, keep))
        # keras-hub tokenizers return Python lists when run eagerly.
        return strings if isinstance(strings, tf.Tensor) else tf.constant(strings, tf.string)

    def encode(self, texts, pair_texts=None):
        segments = (self.tokenize(texts),) if pair_texts is None else (
            self.tokenize(texts), self.tokenize(pair_texts))
        token_ids, segment_ids = pack_segments(segments, self.seq_len, self.cls_id, self.sep_id,
                                               self.pack_pad_id)
        token_ids, padding_mask = self._mask_padding(token_ids)
        if self.trim_padding:
            # Cut the batch to its longest row (rounded up to a multiple of 8):
            # no compute is spent on columns that are padding in every row.
            longest = tf.reduce_max(tf.reduce_sum(padding_mask, axis=1))
            width = tf.minimum((longest + 7) // 8 * 8, self.seq_len)
            token_ids, segment_ids, padding_mask = (
                t[:, :width] for t in (token_ids, segment_ids, padding_mask))
        return token_ids, segment_ids, padding_mask

    def _mask_padding(self, token_ids):
        """(token ids, 0/1 padding mask) of packed rows: padding is `pad_id`."""
        return token_ids, tf.cast(token_ids != self.pad_id, tf.int32)

    def id_to_token(self, ids):
        return self.vocabulary[ids] if isinstance(ids, int) else \
            tf.gather(tf.constant(self.vocabulary), ids)

    def token_byte_lengths(self):
        """UTF-8 bytes of text each id stands for (0 for special and sentinel
        ids), float32 [vocabulary_size]: the denominator of bits per byte, which,
        unlike per-token perplexity, compares across tokenizers.

        >>> encoder.token_byte_lengths()[encoder.tokenize(["hi"])[0]]   # 2.0 in all
        """
        lengths = [float(self._token_bytes(token)) for token in self.vocabulary]
        for index in self.special_ids + self.sentinel_ids:
            lengths[index] = 0.0
        return tf.constant(lengths, tf.float32)

    @staticmethod
    def _token_bytes(token):
        """Bytes of a SentencePiece piece (U+2581 is a space), character or byte token."""
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            return 1  # a byte token (ByteEncoder, SentencePiece byte fallback)
        return len(token.replace("\u2581", " ").encode("utf-8"))


class WordPieceEncoder(TextEncoder):
    """WordPiece (BERT) tokenization from a vocab file with the [PAD] [UNK]
    [CLS] [SEP] [MASK] tokens."""

    @staticmethod
    def _token_bytes(token):
        """A '##' piece continues a word; any other token starts one and counts
        the space before it (approximate: punctuation often has none)."""
        return len(token[2:].encode("utf-8")) if token.startswith("##") else \
            len(token.encode("utf-8")) + 1
    kind = "wordpiece"

    def __init__(self, vocab_path, seq_len, lowercase=True, trim_padding=True):
        super().__init__(read_vocab(vocab_path), seq_len, trim_padding=trim_padding,
                         vocab_path=vocab_path)
        self.lowercase = lowercase
        # (uncased() lowercases and strips accents before keras-hub splits words)
        self.tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=self.vocabulary, lowercase=False, strip_accents=False,
            special_tokens=list(SPECIAL_TOKENS), special_tokens_in_strings=True)

    def tokenize(self, texts):
        return self._ragged(self.tokenizer(uncased(texts) if self.lowercase else texts))

    def _detokenize_ragged(self, ids):
        return self.tokenizer.detokenize(ids)


