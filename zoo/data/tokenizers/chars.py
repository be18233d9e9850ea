"""Character- and byte-level encoders (no subword model), in graph.

`CharEncoder` maps Unicode characters to ids through a vocabulary learned from
the data (`chars.json`: the list of tokens, special tokens first); characters
it has not seen become [UNK]. `ByteEncoder` maps UTF-8 bytes to ids with a
fixed 256-entry table after the special tokens so nothing is unknown and nothing needs training.

Example:
    >>> train_char_vocab(["First Citizen:", "Before we proceed"], 100, "run/chars.json")
    >>> encoder = CharEncoder("run/chars.json", seq_len=64)
    >>> encoder.detokenize(encoder.tokenize(tf.constant(["Before"])))
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'Before'], dtype=object)>
"""
import collections
import json

import tensorflow as tf

from zoo.data.tokenizers.wordpiece import SPECIAL_TOKENS, TextEncoder
from zoo import fileio
from zoo.atomic_files import atomic_write_text


def train_char_vocab(texts, vocab_size, path, extra_tokens=()):
    """Counts the characters of an iterable of strings; keeps the most frequent
    so that the vocabulary (special and extra tokens included) has at most
    `vocab_size` entries, and writes it as JSON atomically. Returns the tokens."""
    counts = collections.Counter()
    for text in texts:
        counts.update(text)
    reserved = list(SPECIAL_TOKENS) + list(extra_tokens)
    room = max(vocab_size - len(reserved), 0)
    chars = sorted(c for c, _ in counts.most_common(room))
    tokens = reserved + chars
    atomic_write_text(path, json.dumps({"tokens": tokens}, ensure_ascii=False) + "\n")
    return tokens


def read_char_vocab(path):
    with fileio.open_file(path) as handle:
        try:
            tokens = json.load(handle)["tokens"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"'{path}' is not a character vocabulary (a JSON object "
                             "with a 'tokens' list)") from None
    missing = [t for t in SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise ValueError(f"character vocabulary '{path}' lacks the special tokens "
                         f"{', '.join(missing)}")
    return tokens


class CharEncoder(TextEncoder):
    """One id per Unicode character, through a dense codepoint -> id table."""
    kind = "char"

    def __init__(self, vocab_path, seq_len, trim_padding=True):
        super().__init__(read_char_vocab(vocab_path), seq_len, trim_padding=trim_padding,
                         vocab_path=vocab_path)
        singles = {ord(t): i for i, t in enumerate(self.vocabulary) if len(t) == 1}
        table = [self.unk_id] * (max(singles, default=0) + 1)
        for codepoint, index in singles.items():
            table[codepoint] = index
        self._table = tf.constant(table, tf.int32)

    def tokenize(self, texts):
        codepoints = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        inside = codepoints < tf.shape(self._table)[0]
        ids = tf.gather(self._table, tf.where(inside, codepoints, 0))
        return tf.where(inside, ids, self.unk_id)

    def _detokenize_ragged(self, ids):
        return tf.strings.reduce_join(tf.gather(tf.constant(self.vocabulary), ids), axis=-1)


class ByteEncoder(TextEncoder):
    """One id per UTF-8 byte: the special tokens (and sentinels), then bytes 0-255."""
    kind = "byte"

    def __init__(self, seq_len, trim_padding=True, extra_tokens=()):
        specials = list(SPECIAL_TOKENS) + list(extra_tokens)
        self.offset = len(specials)
        super().__init__(specials + [f"<0x{b:02X}>" for b in range(256)], seq_len,
                         trim_padding=trim_padding)
        self._bytes = tf.constant([bytes([b]) for b in range(256)])

    def tokenize(self, texts):
        pieces = tf.strings.bytes_split(texts)
        values = tf.reshape(tf.io.decode_raw(pieces.flat_values, tf.uint8), [-1])
        return pieces.with_flat_values(tf.cast(values, tf.int32) + self.offset)

    def _detokenize_ragged(self, ids):
        return tf.strings.reduce_join(tf.gather(self._bytes, ids - self.offset), axis=-1)
