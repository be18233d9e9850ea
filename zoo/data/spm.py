"""SentencePiece (unigram or BPE) encoders and training, in graph via keras-hub.

The trained model file (`spm.model`) is the tokenizer: it is kept in the
model_dir and its bytes are embedded in exports. Ids 0-3 are <pad>, <unk>,
<s>, </s>; [MASK] and any extra tokens (sentinels) are user-defined pieces.

Example:
    >>> train_sentencepiece(["a line", "another line"], 200, "run/spm.model", "bpe")
    >>> encoder = SentencePieceEncoder("run/spm.model", seq_len=64)
    >>> encoder.detokenize(encoder.tokenize(tf.constant(["a line"])))
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'a line'], dtype=object)>
"""
import os
import shutil
import tempfile

import keras_hub

from zoo import atomic_files, fileio
from zoo.data.tokenizer import MASK, TextEncoder

SENTENCEPIECE_TYPES = ("unigram", "bpe")
SPM_SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>", MASK)


class SentencePieceEncoder(TextEncoder):
    """Encoder for a SentencePiece model file."""
    kind = "sentencepiece"

    def __init__(self, model_path, seq_len, trim_padding=True):
        proto = fileio.read_bytes(model_path)  # (the bytes: the path may be a URL)
        self.tokenizer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)
        vocabulary = self.tokenizer.get_vocabulary()
        specials = SPM_SPECIAL_TOKENS
        if "<s>" not in vocabulary and "<pad>" in vocabulary:
            # T5's spiece.model has no <s>: the decoder starts from <pad>, as in T5.
            specials = ("<pad>", "<unk>", "<pad>", "</s>", MASK)
        missing = [t for t in specials[:4] if t not in vocabulary]
        if missing:
            raise ValueError(f"SentencePiece model '{model_path}' lacks the pieces "
                             f"{', '.join(missing)}; train it with zoo-vocab or give "
                             "pad/unk/bos/eos ids")
        super().__init__(vocabulary, seq_len, specials, trim_padding, model_path)

    def tokenize(self, texts):
        return self._ragged(self.tokenizer(texts))

    def _detokenize_ragged(self, ids):
        return self.tokenizer.detokenize(ids)


def seed_pieces(vocab_size):
    """The unigram trainer's seed pieces: 10 per piece to learn, 100k to 1M. Its
    default, 1M, takes more rounds of EM and pruning: on 100 MB of English and
    8000 pieces 10 rounds instead of 7 and 28% more CPU, for 0.25% more tokens on
    held-out text (SST-2, Multi30k)."""
    return min(max(10 * vocab_size, 100000), 1000000)


def train_sentencepiece(texts, vocab_size, model_path, model_type="unigram", extra_tokens=()):
    """Trains a SentencePiece model (unigram or BPE) from an iterable of strings
    and writes `model_path` (and the matching `.vocab`) atomically."""
    import sentencepiece

    if model_type not in SENTENCEPIECE_TYPES:
        raise ValueError(f"unknown SentencePiece type '{model_type}'; choose from "
                         f"{', '.join(SENTENCEPIECE_TYPES)}")
    remote = fileio.is_remote(model_path)  # (sentencepiece writes local files only)
    directory = fileio.dirname(model_path)
    fileio.makedirs(directory)
    workdir = tempfile.mkdtemp(dir=None if remote else directory, prefix=".spm-tmp-")
    try:
        corpus = os.path.join(workdir, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as handle:
            for text in texts:
                handle.write(text.replace("\n", " ") + "\n")
        prefix = os.path.join(workdir, "spm")
        sentencepiece.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
            character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            user_defined_symbols=[MASK, *extra_tokens], hard_vocab_limit=False,
            seed_sentencepiece_size=seed_pieces(vocab_size), minloglevel=2)
        _drop_paths(prefix + ".model")
        vocab_path = os.path.splitext(model_path)[0] + ".vocab"
        if remote:
            atomic_files.atomic_copy(prefix + ".vocab", vocab_path)
            atomic_files.atomic_copy(prefix + ".model", model_path)
        else:
            os.replace(prefix + ".vocab", vocab_path)
            os.replace(prefix + ".model", model_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return model_path


def _drop_paths(model_file):
    """Clears the temporary corpus and prefix paths that training records in the
    model, so that the same texts give the same bytes."""
    from sentencepiece import sentencepiece_model_pb2
    with open(model_file, "rb") as handle:
        proto = sentencepiece_model_pb2.ModelProto.FromString(handle.read())
    proto.trainer_spec.ClearField("input")
    proto.trainer_spec.ClearField("model_prefix")
    with open(model_file, "wb") as handle:
        handle.write(proto.SerializeToString())
