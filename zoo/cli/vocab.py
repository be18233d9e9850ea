"""zoo-vocab: trains a WordPiece vocab (for `zoo-train --vocab`), a
SentencePiece model (unigram or BPE) or a character vocabulary from data files.

    zoo-vocab --train_data='corpus/*.txt' --vocab_size=16000 --output=vocab.txt
    zoo-vocab --type=sentencepiece_bpe --train_data='corpus/*.txt' --output=spm.model
"""
from absl import flags

from zoo.cli import common

common.declare_shared_flags(__name__, "train_data", "text_mode", "columns", "vocab_size",
                            "lowercase")
flags.DEFINE_string("output", "vocab.txt", "Vocab file to write (atomically).")
flags.DEFINE_enum("type", "wordpiece", ["wordpiece", "sentencepiece_unigram",
                                        "sentencepiece_bpe", "char"], "What to train.")
flags.DEFINE_list("fields", ["text"], "Text fields of .tsv/.csv/.jsonl files to read.")


def main(argv):
    from zoo.data.files import expand_paths
    from zoo.data.readers import check_columns, check_readable, read_examples
    from zoo.data.encoders import texts_of, train_tokenizer
    FLAGS = flags.FLAGS
    if not FLAGS.train_data:
        raise common.UsageError("--train_data is required")
    if FLAGS.vocab_size < 10:
        raise common.UsageError(f"--vocab_size={FLAGS.vocab_size} is too small")
    paths = expand_paths(FLAGS.train_data)
    fields = tuple(FLAGS.fields)
    try:
        check_columns(FLAGS.columns, fields)
    except ValueError as error:
        raise common.UsageError(f"{error} (--fields)") from None
    check_readable(paths, fields, FLAGS.text_mode, FLAGS.columns)
    examples = read_examples(paths, fields, FLAGS.text_mode, FLAGS.columns)
    texts = texts_of(examples, fields)
    size = train_tokenizer(FLAGS.type, texts, FLAGS.vocab_size, FLAGS.output, FLAGS.lowercase)
    print(f"{FLAGS.type} vocab: {size} tokens from {len(paths)} file(s) -> {FLAGS.output}")


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
