"""Bad-input catalogue, part 1: malformed data files, labels and paths (see catalogue.py;
part 2, empty fields and JSON types: test_catalogue_fields.py)."""
import os

import pytest

from plugins import OverrideError
from zoo.cli.common import UsageError
from zoo.data.formats.readers import DataError, check_readable, iter_rows, read_examples
from catalogue import WORDS, case, cases_of, check_case, corpus, labelled, train, vocab, write


# -- data files -------------------------------------------------------------------

@case
def empty_file(d, _):
    path = write(d / "empty.txt", "")
    return (lambda: check_readable([path]), DataError,
            f"{path}: no examples (the file is empty or only blank lines)")


@case
def only_blank_lines(d, _):
    path = write(d / "blank.txt", "\n  \n\t\n\n")
    return (lambda: check_readable([path]), DataError,
            f"{path}: no examples (the file is empty or only blank lines)")


@case
def invalid_utf8_with_byte_offset(d, _):
    path = write(d / "bin.txt", b"good line\nbad \xff byte\n")
    return (lambda: list(iter_rows(path, ("text",))), DataError,
            f"{path}:2: invalid UTF-8 at byte offset 14")


@case
def tsv_row_with_too_few_columns(d, _):
    path = write(d / "few.tsv", "text\tlabel\nthe cat\tpos\nonly text\n")
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:3: expected 2 columns (text, label), found 1")


@case
def tsv_row_with_too_many_columns(d, _):
    path = write(d / "many.tsv", "text\tlabel\nthe cat\tpos\textra\n")
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:2: expected 2 columns (text, label), found 3")


@case
def missing_header_column(d, _):
    path = write(d / "cols.tsv", "sentence\tscore\nthe cat\t1\n")
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:1: no column 'label' (columns: sentence, score)")


@case
def tsv_header_naming_a_column_twice(d, _):
    path = write(d / "twice.tsv", "sentence\tsentence\tlabel\nthe cat\ta dog\tpos\n")
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:1: the header names column 'sentence' 2 times (sentence, sentence, "
            "label); give each column its own name")


@case
def csv_header_naming_a_column_twice(d, _):
    path = write(d / "twice.csv", "label,text,label\npos,the cat,neg\n")
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:1: the header names column 'label' 2 times (label, text, label); give "
            "each column its own name")


@case
def jsonl_line_not_an_object(d, _):
    path = write(d / "rows.jsonl", '{"text": "the cat", "label": 0}\n["a dog", 1]\n')
    return (lambda: list(iter_rows(path, ("text", "label"))), DataError,
            f"{path}:2: expected a JSON object, got list")


@case
def plain_text_for_a_labelled_task(d, _):
    path = corpus(d)
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}: plain text files hold one field ('text'); this task reads text, "
            "label: use .tsv, .csv or .jsonl, or one aligned text file per field")


@case
def tfrecord_mixed_with_text(d, _):
    text, record = corpus(d), write(d / "r.tfrecord", b"")
    return (lambda: read_examples([record, text]), DataError,
            "TFRecord files cannot be mixed with text formats in one "
            "--train_data/--eval_data list")


@case
def missing_data_file(d, _):
    return (train(d, train_data=f"{d}/no/such/*.txt"), FileNotFoundError,
            f"no data file matches '{d}/no/such/*.txt'")


@case
def label_out_of_range(d, _):
    path = labelled(d, rows=("the cat\t0", "a dog\t2"))
    return (train(d, task="classification", train_data=path, task_config="labels=0|1"),
            DataError, f"{path}:3: label '2' is not one of the 2 classes (0, 1)")


@case
def negative_integer_label(d, _):
    path = labelled(d, rows=("the cat\t0", "a dog\t-1"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:3: negative integer labels are not allowed")


@case
def unknown_string_label_at_eval(d, _):
    train_path = labelled(d)
    eval_path = labelled(d, "dev.tsv", ("the cat\tpos", "a mat\tneutral"))
    return (train(d, task="classification", train_data=train_path, eval_data=eval_path),
            DataError, f"{eval_path}:3: label 'neutral' is not one of the 2 classes (neg, pos)")


@case
def non_numeric_regression_target(d, _):
    path = labelled(d, rows=("the cat\t0.5", "a dog\thigh"))
    return (train(d, task="regression", train_data=path), DataError,
            f"{path}:3: regression target 'high' is not a number")


@case
def non_finite_regression_target(d, _):
    path = labelled(d, rows=("the cat\t0.5", "a dog\tinf"))
    return (train(d, task="regression", train_data=path), DataError,
            f"{path}:3: regression target 'inf' is not finite")


@case
def zero_length_example(d, _):
    path = labelled(d, rows=("the cat\tpos", " \tneg"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:3: field 'text' is empty (a zero-length example)")


@case
def zero_length_second_text_of_a_pair(d, _):
    path = write(d / "pairs.tsv", "text\ttext_b\tlabel\nthe cat\ta dog\t1\nthe cat\t\t0\n")
    return (train(d, task="regression", task_config="pair=true", train_data=path),
            DataError, f"{path}:3: field 'text_b' is empty (a zero-length example)")


@case
def vocab_missing_special_tokens(d, _):
    bad = write(d / "bad_vocab.txt", "[PAD]\n[UNK]\n[CLS]\nthe\ncat\n")
    return (train(d, train_data=corpus(d), vocab=bad), UsageError,
            f"--vocab={bad} is not a usable wordpiece vocabulary: vocab file '{bad}' lacks "
            "the special tokens [SEP], [MASK]; they must each be on a line of their own")


# -- label sets -----------------------------------------------------------------------

@case
def single_class_in_the_training_data(d, _):
    path = labelled(d, rows=("the cat\tpos", "a dog\tpos"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}: the training data has a single class ('pos'); a classifier needs at "
            "least 2 (name the label set with --task_config=labels=a|b|... to train on it "
            "anyway)")


@case
def single_integer_class_over_two_files(d, _):
    first = labelled(d, "a.tsv", rows=("the cat\t1",))
    second = labelled(d, "b.tsv", rows=("a dog\t1",))
    return (train(d, task="classification", train_data=f"{first},{second}"), DataError,
            f"{first}, {second}: the training data has a single class ('1'); a classifier "
            "needs at least 2 (name the label set with --task_config=labels=a|b|... to train "
            "on it anyway)")


@case
def label_set_flag_with_one_class(d, _):
    return (train(d, task="classification", train_data=labelled(d), task_config="labels=pos"),
            OverrideError, "labels must name 2 or more distinct, non-empty classes separated "
            "by '|', got 'pos'")


@case
def label_set_flag_with_an_empty_class(d, _):
    return (train(d, task="classification", train_data=labelled(d),
                  task_config="labels=neg||pos"), OverrideError,
            "labels must name 2 or more distinct, non-empty classes separated by '|', got "
            "'neg||pos'")


# -- data paths and TFRecords ---------------------------------------------------------

@case
def directory_as_train_data(d, _):
    directory = d / "adir"
    write(directory / "part-0.tsv", "text\tlabel\n")
    return (train(d, task="classification", train_data=str(directory)), FileNotFoundError,
            f"'{directory}' is a directory: give files or a glob such as '{directory}/*.tsv'")


@case
def glob_that_matches_only_directories(d, _):
    (d / "shard_1").mkdir()
    return (train(d, train_data=f"{d}/shard_*"), FileNotFoundError,
            f"no data file matches '{d}/shard_*' (it matches only directories, such as "
            f"'{d}/shard_1')")


def tfrecord(d, name, rows):
    """A TFRecord file of tf.Examples, each {feature: bytes or [ints]}."""
    import tensorflow as tf
    path = str(d / name)
    with tf.io.TFRecordWriter(path) as writer:
        for row in rows:
            feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
                       if isinstance(v, bytes) else
                       tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                       for k, v in row.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    return path


@case
def tfrecord_without_a_field(d, _):
    path = tfrecord(d, "rows.tfrecord", [{"text": b"the cat", "label": b"pos"},
                                         {"text": b"a dog"}])
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:2: no feature 'label' (features: text)")


@case
def tfrecord_label_of_integers(d, _):
    path = tfrecord(d, "rows.tfrecord", [{"text": b"the cat", "label": [0]}])
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:1: feature 'label' must hold one bytes value, got 1 in int64_list")


@case
def tfrecord_that_is_no_tfrecord(d, _):
    path = write(d / "rows.tfrecord", "text\tlabel\nthe cat\tpos\n")
    return (train(d, train_data=path), DataError,
            f"{path}:1: not a readable TFRecord (corrupted record at byte offset 0)")


@case
def tfrecord_cut_short(d, _):
    path = tfrecord(d, "rows.tfrecord", [{"text": b"the cat"}, {"text": b"a dog"}])
    with open(path, "rb+") as handle:
        handle.truncate(os.path.getsize(path) - 3)
    return (train(d, train_data=path), DataError,
            f"{path}:2: not a readable TFRecord (truncated record at byte offset 39)")


@pytest.mark.parametrize("name", cases_of(__name__))
def test_catalogue(name, case_env):
    check_case(name, case_env)


def test_over_long_examples_are_counted_and_reported(tmp_path, monkeypatch, capsys):
    import zoo.train.loop
    monkeypatch.setattr(zoo.train.loop, "run_training", lambda *_: {})
    long_text = " ".join(WORDS * 2)  # 22 words: more than 16 - 2 tokens
    path = labelled(tmp_path, rows=(f"{long_text}\tpos", "the cat\tneg", f"{long_text}\tneg"))
    train(tmp_path, task="classification", train_data=path, vocab=vocab(tmp_path))()
    assert ("data check: 2 example(s) have more words than fit in --seq_len=16; they will be "
            "truncated (words are counted, so more may be)") in capsys.readouterr().out.splitlines()


def test_eval_classes_missing_from_training_are_listed(tmp_path, monkeypatch, capsys):
    import zoo.train.loop
    monkeypatch.setattr(zoo.train.loop, "run_training", lambda *_: {})
    train_path = labelled(tmp_path, rows=("the cat\tpos", "a dog\tpos"))
    eval_path = labelled(tmp_path, "dev.tsv", ("the cat\tpos", "a mat\tneutral", "a dog\tneg"))
    train(tmp_path, task="classification", train_data=train_path, eval_data=eval_path,
          task_config="labels=neg|neutral|pos", vocab=vocab(tmp_path))()
    assert ("data check: 2 class(es) of the eval data are not in the training data (the "
            "model never learns them): neg, neutral") in capsys.readouterr().out.splitlines()


def test_a_field_the_task_declares_may_be_empty_passes(tmp_path, monkeypatch):
    import dataclasses

    from plugins import TASKS
    from tasks.classification import Classification
    import zoo.train.loop
    monkeypatch.setattr(zoo.train.loop, "run_training", lambda *_: {})

    class Tagging(Classification):  # as the multilabel example: an empty label is "none"
        name = "tagging_test"
        may_be_empty = ("label",)

        @classmethod
        def prepare(cls, config, rows):
            return dataclasses.replace(config, labels="|".join(sorted(
                {row["label"].strip() or "none" for _, _, row in rows})))

        @classmethod
        def check_row(cls, config, path, line, row):
            pass
    TASKS.register("tagging_test", Tagging, source="test")
    try:
        path = labelled(tmp_path, rows=("the cat\tpos", "a dog\t"))
        train(tmp_path, task="tagging_test", train_data=path, vocab=vocab(tmp_path))()
        with pytest.raises(DataError) as error:  # text stays required
            train(tmp_path, task="tagging_test", model_dir=str(tmp_path / "run2"),
                  train_data=labelled(tmp_path, "b.tsv", rows=("the cat\tpos", " \t")),
                  vocab=vocab(tmp_path))()
        assert str(error.value) == (f"{tmp_path}/b.tsv:3: field 'text' is empty (a zero-length "
                                    "example)")
    finally:
        TASKS.unregister("tagging_test")
