"""Text encoders: in-graph tokenization (tensorflow-text and keras-hub), packing,
and detokenization. WordPiece is BERT's tokenizer exactly (`bert_normalize`,
`split_words`, then tensorflow-text's FastWordpiece), so a published BERT
checkpoint's vocab gives the ids its own tokenizer gives. WordPiece vocabs are
trained by `train_wordpiece_vocab` (`zoo.data.tokenizers.vocab_learners`, without
TensorFlow).

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

import tensorflow as tf
import tensorflow_text as tf_text

from zoo import fileio
from zoo.data.tokenizers.segment_packing import pack_segments
from zoo.data.tokenizers.special_tokens import (  # noqa: F401  (the tokenizers' API too)
    CLS, MASK, NUM_SENTINELS, PAD, SEP, SPECIAL_TOKENS, UNK, sentinel_token)
from zoo.data.tokenizers.vocab_learners import train_wordpiece_vocab  # noqa: F401


#: Removed from text (BERT's `clean_text`): NUL, U+FFFD, and control, format,
#: private-use and surrogate characters (tab, LF and CR excepted: they are
#: whitespace). Unassigned code points stay (and make their word [UNK]).
REMOVED = r"[\x{0}\x{FFFD}]|[^\PC\t\n\r]"
#: Whitespace (Unicode White_Space once control characters are gone): becomes " ".
WHITESPACE = r"[\t\n\r\p{Z}]"
#: BERT's CJK ideograph ranges: each such character is a word of its own.
CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
       r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")
#: Punctuation: a word of its own (every non-alphanumeric ASCII character, as in BERT).
PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
#: Words longer than this many characters are one [UNK] (BERT's max_input_chars_per_word).
MAX_CHARS_PER_WORD = 100


def bert_normalize(texts, lowercase=True, keep=SPECIAL_TOKENS):
    """BERT's text normalisation (its `BasicTokenizer`, Hugging Face's
    `BertNormalizer`), in graph: control characters removed and whitespace made
    " "; CJK ideographs spaced apart; then, when `lowercase`, accents stripped
    (NFD, combining marks removed) and each character lowercased on its own.
    There is no NFKC: full-width letters, ligatures and "ß" stay as written, and
    Hangul stays decomposed into jamo. The `keep` tokens ("[MASK]") are left as
    written.

    keras-hub's WordPieceTokenizer folds case with `case_fold_utf8`, which is NFKC
    case folding: it gives other ids than the checkpoint's own tokenizer for those
    characters, so the normalisation is done here (and tests/test_published_checkpoint.py
    compares the ids with Hugging Face's `tokenizers` on the same vocabulary).

    >>> bert_normalize(tf.constant(["Héllo [MASK] Straße\x00!"])).numpy()
    array([b'hello [MASK] stra\xc3\x9fe!'], dtype=object)
    """
    texts = tf.strings.regex_replace(texts, REMOVED, "")
    texts = tf.strings.regex_replace(texts, WHITESPACE, " ")
    texts = tf.strings.regex_replace(texts, CJK, r" \0 ")
    if not lowercase:
        return texts
    # Private-use characters (gone from the text above) hold the kept tokens' places.
    places = [chr(0xE000 + index) for index in range(len(keep))]
    for token, place in zip(keep, places):
        texts = tf.strings.regex_replace(texts, re.escape(token), place)
    texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
    # tf.strings.lower applies Unicode's final-sigma rule; BERT lowercases each
    # character alone, so a capital sigma is always "σ".
    texts = tf.strings.lower(tf.strings.regex_replace(texts, "\u03a3", "\u03c3"), encoding="utf-8")
    for token, place in zip(keep, places):
        texts = tf.strings.regex_replace(texts, place, token.replace("\\", "\\\\"))
    return texts


def split_words(texts, keep=SPECIAL_TOKENS):
    """Normalised strings [batch] -> ragged words [batch, words]: split at spaces,
    with each punctuation mark, CJK ideograph and `keep` token a word of its own.

    >>> split_words(tf.constant(["it's [MASK]."])).to_list()
    [[b'it', b"'", b's', b'[MASK]', b'.']]
    """
    special = "|".join(re.escape(token) for token in keep)
    return tf_text.regex_split(texts, delim_regex_pattern=f"{special}| |{PUNCTUATION}|{CJK}",
                               keep_delim_regex_pattern=f"{special}|{PUNCTUATION}|{CJK}")


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
        # Pieces by greedy longest match, as BERT's WordPiece. Words are measured in
        # characters (MAX_CHARS_PER_WORD) before they get here, so the byte limit
        # only has to let a word of that many 4-byte characters through.
        self.tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary, suffix_indicator="##", unknown_token=UNK,
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD, token_out_type=tf.int32,
            no_pretokenization=True, support_detokenization=True)

    def tokenize(self, texts):
        words = split_words(bert_normalize(texts, self.lowercase))
        flat = words.flat_values
        flat = tf.where(tf.strings.length(flat, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD, UNK, flat)
        pieces = self.tokenizer.tokenize(flat)  # [words, pieces]
        return words.with_flat_values(pieces).merge_dims(1, 2)

    def _detokenize_ragged(self, ids):
        return self.tokenizer.detokenize(ids)
