"""The data wing, in three sub-packages:

- `zoo.data.formats`: files to raw examples (txt, jsonl, tsv/csv, TFRecord, .gz,
  any tf.io.gfile path), in Python (`readers`) or in the graph (`native`);
- `zoo.data.tokenizers`: text encoders (WordPiece, SentencePiece, byte BPE,
  characters) and the vocabulary learners;
- `zoo.data.pipeline`: raw examples to training batches (sharding, packing,
  bucketing, the input stream).

`zoo.data.builtin` writes the small corpus of the built-in default run.
"""
