"""Text encoders and the vocabularies they read: WordPiece (`wordpiece`),
SentencePiece (`spm`), byte-level BPE (`bpe`), characters and bytes (`chars`),
picked by name in `encoders`; vocabulary learners (`vocab_learners`, from word
counts and a uniform sample of the data, `vocab_sample`).

Example:
    >>> from zoo.data.tokenizers.encoders import load_encoder
    >>> encoder = load_encoder("wordpiece", "run/vocab.txt", seq_len=128)
"""
