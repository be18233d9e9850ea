"""zoo-prep: writes a cleaned copy of a corpus, in the same format, and a report.

Unicode normalisation, control characters and whitespace; empty and
out-of-length rows, exact and near duplicates removed; optionally a stable
validation split. Streams, so memory holds hashes, not the corpus.

    zoo-prep --train_data=raw/train.tsv --output=clean/train.tsv
    zoo-prep --train_data='corpus/*.txt' --output=clean.txt --min_chars=20 \\
             --near_dup_threshold=0.9 --validation_fraction=0.01 --validation_output=dev.txt
"""
import os

from absl import flags

from zoo.cli import common

common.declare_shared_flags(__name__, "train_data", "text_mode", "columns")
# zoo-vocab defines --output and --fields too; allow_override lets both apps
# load in one process (tests), whichever is imported first.
flags.DEFINE_string("output", "", "Cleaned file to write (atomically), in the inputs' format; "
                    "the report goes to <output>.report.json.", allow_override=True)
flags.DEFINE_list("fields", ["text"], "Text fields of .tsv/.csv/.jsonl files to clean (other "
                  "columns pass through).", allow_override=True)
flags.DEFINE_string("validation_output", "", "File for the validation split; empty: "
                    "<output name>.validation<ext>.")
flags.DEFINE_float("validation_fraction", 0.0, "Fraction of rows written to --validation_output, "
                   "chosen by a hash of the text (stable across runs).")
flags.DEFINE_enum("normalize", "NFC", ["NFC", "NFKC", "none"], "Unicode normalisation.")
flags.DEFINE_float("near_dup_threshold", 0.8, "Drop a text whose estimated Jaccard similarity "
                   "(character 5-grams, MinHash) to a kept one reaches this; 0 or 1: off.")
flags.DEFINE_integer("min_chars", 0, "Drop rows with a text shorter than this (characters).")
flags.DEFINE_integer("max_chars", 0, "Drop rows with a text longer than this; 0: no limit.")
flags.DEFINE_integer("min_words", 0, "Drop rows with fewer whitespace-separated words.")
flags.DEFINE_integer("max_words", 0, "Drop rows with more words; 0: no limit.")


def config_from_flags(FLAGS):
    from zoo.data.formats.readers import check_columns
    from zoo.prep.clean import PrepConfig
    try:
        check_columns(FLAGS.columns, tuple(FLAGS.fields))
    except ValueError as error:
        raise common.UsageError(f"{error} (--fields)") from None
    if not 0 <= FLAGS.validation_fraction < 1:
        raise common.UsageError(f"--validation_fraction={FLAGS.validation_fraction} is not in [0, 1)")
    if not 0 <= FLAGS.near_dup_threshold <= 1:
        raise common.UsageError(f"--near_dup_threshold={FLAGS.near_dup_threshold} is not in [0, 1]")
    for low, high in (("min_chars", "max_chars"), ("min_words", "max_words")):
        if FLAGS[low].value < 0 or FLAGS[high].value < 0:
            raise common.UsageError(f"--{low} and --{high} cannot be negative")
        if FLAGS[high].value and FLAGS[low].value > FLAGS[high].value:
            raise common.UsageError(f"--{low}={FLAGS[low].value} is above --{high}={FLAGS[high].value}")
    return PrepConfig(fields=tuple(FLAGS.fields), text_mode=FLAGS.text_mode,
                      normalize=FLAGS.normalize, min_chars=FLAGS.min_chars,
                      max_chars=FLAGS.max_chars, min_words=FLAGS.min_words,
                      max_words=FLAGS.max_words, near_dup_threshold=FLAGS.near_dup_threshold,
                      validation_fraction=FLAGS.validation_fraction, columns=FLAGS.columns)


def main(argv):
    from zoo.data.formats.files import expand_paths
    from zoo.data.formats.readers import file_format
    from zoo.fileio import same_file
    from zoo.prep.clean import format_report, prepare
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise common.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.train_data or not FLAGS.output:
        raise common.UsageError("--train_data and --output are required")
    config = config_from_flags(FLAGS)
    paths = expand_paths(FLAGS.train_data)
    fmt = file_format(FLAGS.output)
    validation = FLAGS.validation_output or "{0}.validation{1}".format(*os.path.splitext(FLAGS.output))
    for path in paths:
        if file_format(path) != fmt or fmt == "tfrecord":
            raise common.UsageError(f"'{path}' is {file_format(path)} and --output={FLAGS.output} is "
                                    f"{fmt}: zoo-prep writes the inputs' own text format "
                                    "(txt, jsonl, tsv or csv)")
        for out in (FLAGS.output, validation):
            if same_file(path, out):
                raise common.UsageError(f"'{out}' is also an input; write the cleaned copy elsewhere")
    report = prepare(paths, FLAGS.output, config, validation)
    print(format_report(report))


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
