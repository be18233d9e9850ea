"""GPT-2 byte-level BPE encoder, in graph via keras-hub's BytePairTokenizer.

The tokenizer file kept in model_dir (`bpe.json`) holds GPT-2's `vocab.json`
(token -> id) and `merges.txt` (one merge rule a line) in one JSON object,
`{"vocabulary": {...}, "merges": [...]}`, so that it travels as one file
(resume, export asset) like the other kinds. Such a file is not trained here:
it comes from a Hugging Face directory (`--init_checkpoint`). GPT-2 has one
special token, `<|endoftext|>`: it is pad, unk, bos and eos at once.

Example:
    >>> write_bpe_file("hf/gpt2/vocab.json", "hf/gpt2/merges.txt", "run/bpe.json")
    >>> encoder = ByteBpeEncoder("run/bpe.json", seq_len=64)
    >>> encoder.detokenize(encoder.tokenize(tf.constant([" hello world"])))
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b' hello world'], dtype=object)>
"""
import json

import keras_hub
import tensorflow as tf

from zoo.data.tokenizers.wordpiece import TextEncoder
from zoo.atomic_files import atomic_write_text

END_OF_TEXT = "<|endoftext|>"


def write_bpe_file(vocab_json, merges_txt, path):
    """Joins a GPT-2 `vocab.json` and `merges.txt` into one `bpe.json` (atomically)."""
    with open(vocab_json, encoding="utf-8") as handle:
        vocabulary = json.load(handle)
    with open(merges_txt, encoding="utf-8") as handle:
        merges = [line.rstrip("\r\n") for line in handle]
    merges = [m for m in merges if m and not m.startswith("#version")]
    atomic_write_text(path, json.dumps({"vocabulary": vocabulary, "merges": merges},
                                       ensure_ascii=False) + "\n")
    return path


def read_bpe_file(path):
    """(id -> token list, merges) of a `bpe.json`; ids must be 0..n-1."""
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    if not isinstance(raw, dict) or not {"vocabulary", "merges"} <= set(raw):
        raise ValueError(f"'{path}' is not a byte-level BPE file (a JSON object with "
                         "'vocabulary' and 'merges')")
    by_id = {int(i): token for token, i in raw["vocabulary"].items()}
    if sorted(by_id) != list(range(len(by_id))):
        raise ValueError(f"the vocabulary of '{path}' does not number its tokens 0..n-1")
    if END_OF_TEXT not in raw["vocabulary"]:
        raise ValueError(f"the vocabulary of '{path}' lacks GPT-2's {END_OF_TEXT} token")
    return [by_id[i] for i in range(len(by_id))], raw["merges"], raw["vocabulary"]


class ByteBpeEncoder(TextEncoder):
    """GPT-2 byte-level BPE; `<|endoftext|>` is pad, unk, bos and eos. The padding
    mask comes from the packed lengths (pad and eos are one id)."""
    kind = "byte_bpe"

    def __init__(self, path, seq_len, trim_padding=True):
        vocabulary, merges, ids = read_bpe_file(path)
        self.tokenizer = keras_hub.tokenizers.BytePairTokenizer(
            vocabulary=ids, merges=merges, unsplittable_tokens=[END_OF_TEXT])
        super().__init__(vocabulary, seq_len, (END_OF_TEXT,) * 4 + (None,), trim_padding, path)
        self.pack_pad_id = -1  # see _mask_padding

    def tokenize(self, texts):
        return self._ragged(self.tokenizer(texts))

    def _detokenize_ragged(self, ids):
        return self.tokenizer.detokenize(ids)

    def _mask_padding(self, token_ids):
        """Packed rows are padded with -1 (padding, start and end share one id): the mask is
        where it put ids, and the padding becomes `pad_id`."""
        return (tf.where(token_ids >= 0, token_ids, self.pad_id),
                tf.cast(token_ids >= 0, tf.int32))

    @staticmethod
    def _token_bytes(token):
        return len(token)  # byte-level BPE: one character per byte
