"""zoo-vocab: trains a WordPiece vocab (for `zoo-train --vocab`), a
SentencePiece model (unigram or BPE) or a character vocabulary from data files.

It reads a uniform sample of the examples (lines) of about --vocab_sample bytes
(default 100M; 0: all), drawn with --seed, in one pass with a progress line:

    zoo-vocab --train_data='corpus/*.txt' --vocab_size=16000 --output=vocab.txt
    zoo-vocab --type=sentencepiece_bpe --train_data='corpus/*.txt' --output=spm.model
    zoo-vocab --train_data='c4/*.json.gz' --vocab_sample=1G --seed=1
"""
from absl import flags

from zoo.cli import common

common.declare_shared_flags(__name__, "train_data", "text_mode", "columns", "vocab_size",
                            "vocab_sample", "lowercase", "seed")
flags.DEFINE_string("output", "vocab.txt", "Vocab file to write (atomically).")
flags.DEFINE_enum("type", "wordpiece", ["wordpiece", "sentencepiece_unigram",
                                        "sentencepiece_bpe", "char"], "What to train.")
flags.DEFINE_list("fields", ["text"], "Text fields of .tsv/.csv/.jsonl files to read.")


def main(argv):
    from zoo.cli.devices import cuda_noise_dropped
    from zoo.data.tokenizers.encoders import train_tokenizer
    from zoo.data.formats.files import expand_paths
    from zoo.data.formats.readers import check_columns, check_readable
    from zoo.data.tokenizers.vocab_sample import sample_texts
    from zoo.train.preparation import vocab_sample_bytes
    FLAGS = flags.FLAGS
    if not FLAGS.train_data:
        raise common.UsageError("--train_data is required")
    if FLAGS.vocab_size < 10:
        raise common.UsageError(f"--vocab_size={FLAGS.vocab_size} is too small")
    budget = vocab_sample_bytes(FLAGS.vocab_sample)
    paths = expand_paths(FLAGS.train_data)
    fields = tuple(FLAGS.fields)
    try:
        check_columns(FLAGS.columns, fields)
    except ValueError as error:
        raise common.UsageError(f"{error} (--fields)") from None
    with cuda_noise_dropped():  # (tensorflow-text's learner, for small samples, imports TF)
        check_readable(paths, fields, FLAGS.text_mode, FLAGS.columns)
        texts = sample_texts(paths, fields, FLAGS.text_mode, FLAGS.columns, budget, FLAGS.seed)
        size = train_tokenizer(FLAGS.type, texts, FLAGS.vocab_size, FLAGS.output,
                               FLAGS.lowercase)
    print(f"{FLAGS.type} vocab: {size} tokens from {len(paths)} file(s) -> {FLAGS.output}")


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
