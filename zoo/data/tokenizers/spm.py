"""SentencePiece (unigram or BPE) encoders, in graph via keras-hub; models are
trained by `train_sentencepiece` (`zoo.data.tokenizers.vocab_learners`, without TensorFlow).

The trained model file (`spm.model`) is the tokenizer: it is kept in the
model_dir and its bytes are embedded in exports. Ids 0-3 are <pad>, <unk>,
<s>, </s>; [MASK] and any extra tokens (sentinels) are user-defined pieces.

Example:
    >>> train_sentencepiece(["a line", "another line"], 200, "run/spm.model", "bpe")
    >>> encoder = SentencePieceEncoder("run/spm.model", seq_len=64)
    >>> encoder.detokenize(encoder.tokenize(tf.constant(["a line"])))
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'a line'], dtype=object)>
"""
import keras_hub

from zoo import fileio
from zoo.data.tokenizers.wordpiece import MASK, TextEncoder
from zoo.data.tokenizers.vocab_learners import (  # noqa: F401  (this module's API too)
    SENTENCEPIECE_TYPES, seed_pieces, train_sentencepiece)

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
