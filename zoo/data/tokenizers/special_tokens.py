"""The special tokens of the zoo's vocabularies, in a module without TensorFlow so
that vocabulary training (zoo-vocab) starts without importing it.

`zoo.data.tokenizers.wordpiece` re-exports them; WordPiece and character vocabularies
start with SPECIAL_TOKENS ([PAD] is id 0), and encoder-decoder runs add the
sentinels `<extra_id_N>` after them.
"""
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
#: Sentinel tokens added to vocabularies of encoder-decoder runs (span corruption).
NUM_SENTINELS = 100


def sentinel_token(index):
    return f"<extra_id_{index}>"
