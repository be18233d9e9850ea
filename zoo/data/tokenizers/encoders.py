"""Tokenizer kinds by name: which file each keeps, how to train and load it.

| kind                    | file in model_dir | trained from the data by        |
|-------------------------|-------------------|---------------------------------|
| wordpiece               | vocab.txt         | sentencepiece BPE (word counts) |
| sentencepiece_unigram   | spm.model         | sentencepiece (unigram)         |
| sentencepiece_bpe       | spm.model         | sentencepiece (BPE)             |
| char                    | chars.json        | character counts                |
| byte                    | (none)            | nothing: 256 byte ids           |
| byte_bpe                | bpe.json          | not trained: GPT-2's files      |

`auto` picks WordPiece for encoders, BPE for decoders and unigram for
encoder-decoders. Runs of the encoder-decoder family get 100 sentinel
tokens `<extra_id_N>` (span corruption) in their vocabulary.

Example:
    >>> texts = sample_texts(["corpus.txt"], budget=parse_size("100M"), seed=0)
    >>> train_tokenizer("char", texts, 200, "run/chars.json")
    >>> encoder = load_encoder("char", "run/chars.json", seq_len=256)
"""
from plugins.task import DECODER, ENCODER, ENCODER_DECODER
from zoo.data.tokenizers.special_tokens import NUM_SENTINELS, sentinel_token

TOKENIZERS = ("wordpiece", "sentencepiece_unigram", "sentencepiece_bpe", "char", "byte",
              "byte_bpe")
VOCAB_FILES = {"wordpiece": "vocab.txt", "sentencepiece_unigram": "spm.model",
               "sentencepiece_bpe": "spm.model", "char": "chars.json", "byte": "",
               "byte_bpe": "bpe.json"}
DEFAULT_TOKENIZERS = {ENCODER: "wordpiece", DECODER: "sentencepiece_bpe",
                      ENCODER_DECODER: "sentencepiece_unigram"}


def resolve_kind(kind, family):
    if kind == "auto":
        return DEFAULT_TOKENIZERS[family]
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer '{kind}'; choose from auto, {', '.join(TOKENIZERS)}")
    return kind


def extra_tokens(family):
    """Tokens reserved after the special ones: sentinels for encoder-decoders."""
    return tuple(sentinel_token(i) for i in range(NUM_SENTINELS)) \
        if family == ENCODER_DECODER else ()


def load_encoder(kind, vocab_path, seq_len, lowercase=True, family=ENCODER, trim_padding=True):
    """The TextEncoder of a tokenizer kind (vocab_path is ignored for bytes)."""
    if kind == "wordpiece":
        from zoo.data.tokenizers.wordpiece import WordPieceEncoder
        return WordPieceEncoder(vocab_path, seq_len, lowercase, trim_padding)
    if kind.startswith("sentencepiece"):
        from zoo.data.tokenizers.spm import SentencePieceEncoder
        return SentencePieceEncoder(vocab_path, seq_len, trim_padding)
    if kind == "char":
        from zoo.data.tokenizers.chars import CharEncoder
        return CharEncoder(vocab_path, seq_len, trim_padding)
    if kind == "byte":
        from zoo.data.tokenizers.chars import ByteEncoder
        return ByteEncoder(seq_len, trim_padding, extra_tokens(family))
    if kind == "byte_bpe":
        from zoo.data.tokenizers.bpe import ByteBpeEncoder
        return ByteBpeEncoder(vocab_path, seq_len, trim_padding)
    raise ValueError(f"unknown tokenizer '{kind}'; choose from {', '.join(TOKENIZERS)}")


def train_tokenizer(kind, texts, vocab_size, path, lowercase=True, family=ENCODER):
    """Trains a tokenizer of `kind` from strings (an iterable of str, such as
    `zoo.data.tokenizers.vocab_sample.sample_texts`, or a tf.data dataset) into `path`
    (atomically); returns the vocabulary size. WordPiece and SentencePiece
    learn from word counts (`zoo.data.tokenizers.vocab_learners`), without TensorFlow."""
    extra = extra_tokens(family)
    if kind == "wordpiece":
        from zoo.data.tokenizers.vocab_learners import train_wordpiece_vocab
        return len(train_wordpiece_vocab(texts, vocab_size, path, lowercase, extra))
    if kind.startswith("sentencepiece"):
        from zoo.data.tokenizers.vocab_learners import train_sentencepiece
        return train_sentencepiece(texts, vocab_size, path, kind.split("_")[1], extra)
    if hasattr(texts, "as_numpy_iterator"):  # a tf.data dataset
        texts = (t.decode("utf-8") for t in texts.as_numpy_iterator())
    if kind == "char":
        from zoo.data.tokenizers.chars import train_char_vocab
        return len(train_char_vocab(texts, vocab_size, path, extra))
    raise ValueError(f"tokenizer '{kind}' is not trained from data"
                     + ("; give --vocab=bpe.json or a GPT-2 --init_checkpoint"
                        if kind == "byte_bpe" else ""))
