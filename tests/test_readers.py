"""Readers: every format, file lists, and file:line errors (fuzzing: test_readers_fuzzed.py)."""
import json
import os

import pytest
import tensorflow as tf

from zoo.data.formats.files import expand_paths
from zoo.data.formats.readers import (DataError, check_filled, check_readable, file_format, iter_rows,
                              read_examples)
from catalogue import write


def values(dataset):
    return [{k: v.numpy().decode() for k, v in row.items()} for row in dataset]


def message(excinfo):
    return str(excinfo.value)


# -- expand_paths -------------------------------------------------------------

def test_expand_paths_globs_and_lists(tmp_path):
    for name in ("b.txt", "a.txt", "c.md", "z.txt"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "dir.txt").mkdir()  # directories never match
    # Each pattern's matches are sorted; the patterns keep their order.
    assert expand_paths(f"{tmp_path}/z.txt, {tmp_path}/[ab].txt,,{tmp_path}/c.md") == [
        f"{tmp_path}/z.txt", f"{tmp_path}/a.txt", f"{tmp_path}/b.txt", f"{tmp_path}/c.md"]
    assert expand_paths(f"{tmp_path}/*.txt") == [
        f"{tmp_path}/a.txt", f"{tmp_path}/b.txt", f"{tmp_path}/z.txt"]
    assert expand_paths([f"{tmp_path}/c.md", f"{tmp_path}/a.txt"]) == [
        f"{tmp_path}/c.md", f"{tmp_path}/a.txt"]


@pytest.mark.parametrize("spec,missing", [
    ("{d}/a.txt,{d}/none*.txt", "{d}/none*.txt"),
    ("{d}/nothere.txt", "{d}/nothere.txt"),
])
def test_expand_paths_names_the_pattern_that_matches_nothing(tmp_path, spec, missing):
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        expand_paths(spec.format(d=tmp_path))
    assert message(error) == f"no data file matches '{missing.format(d=tmp_path)}'"


@pytest.mark.parametrize("files,suggested", [
    ((), "*.txt"), (("a.jsonl", "b.jsonl", "c.tsv", "README"), "*.jsonl"),
    (("x.TSV", "notes.md"), "*.tsv")])
def test_a_directory_is_no_data_file_and_a_glob_is_suggested(tmp_path, files, suggested):
    directory = tmp_path / "data"
    directory.mkdir()
    for name in files:
        (directory / name).write_text("x\n")
    (tmp_path / "other.txt").write_text("x\n")
    for spec in (str(directory), f"{directory}/"):
        with pytest.raises(FileNotFoundError) as error:
            expand_paths(f"{tmp_path}/other.txt,{spec}")
        assert message(error) == (f"'{spec}' is a directory: give files or a glob such as "
                                  f"'{os.path.join(spec, suggested)}'")


def test_a_glob_of_directories_only(tmp_path):
    (tmp_path / "part-1").mkdir()
    (tmp_path / "part-2").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        expand_paths(f"{tmp_path}/part-*")
    assert message(error) == (f"no data file matches '{tmp_path}/part-*' (it matches only "
                              f"directories, such as '{tmp_path}/part-1')")


@pytest.mark.parametrize("spec", ["", " , ", None, []])
def test_expand_paths_of_nothing(spec):
    with pytest.raises(FileNotFoundError) as error:
        expand_paths(spec)
    assert message(error) == "no data files given"


# -- read_examples, each format -----------------------------------------------

def test_file_formats():
    assert [file_format(p) for p in ("a.TXT", "b.jsonl", "c.json", "d.tsv", "e.csv",
                                     "f.tfrecord", "g.tfrecords", "train.en")] == [
        "text", "jsonl", "jsonl", "tsv", "csv", "tfrecord", "tfrecord", "text"]


def test_text_lines_and_paragraphs(tmp_path):
    path = write(tmp_path / "doc.txt", "first line\r\n\nsecond\nthird\n  \n\n  fourth  \n")
    assert values(read_examples([path])) == [
        {"text": "first line"}, {"text": "second"}, {"text": "third"}, {"text": "  fourth  "}]
    assert values(read_examples([path], text_mode="paragraph")) == [
        {"text": "first line"}, {"text": "second\nthird"}, {"text": "  fourth  "}]
    # Line numbers: each line's own, and a paragraph's first line.
    assert [n for n, _ in iter_rows(path, ("text",))] == [1, 3, 4, 7]
    assert [n for n, _ in iter_rows(path, ("text",), "paragraph")] == [1, 3, 7]


def test_several_files_in_order(tmp_path):
    first = write(tmp_path / "1.txt", "a\nb\n")
    second = write(tmp_path / "2", "c\n")  # extension-less: plain text
    assert values(read_examples([second, first])) == [{"text": "c"}, {"text": "a"},
                                                      {"text": "b"}]


def test_jsonl(tmp_path):
    path = write(tmp_path / "a.jsonl", json.dumps({"text": "hi ü", "label": 1, "x": [1]}) +
                 "\n\n" + json.dumps({"label": "neg", "text": "yo"}) + "\n" +
                 json.dumps({"label": -0.25, "text": ""}) + "\n")
    # Labels may be numbers (their JSON text); other columns are not read.
    assert values(read_examples([path], ("text", "label"))) == [
        {"text": "hi ü", "label": "1"}, {"text": "yo", "label": "neg"},
        {"text": "", "label": "-0.25"}]
    assert [n for n, _ in iter_rows(path, ("text", "label"))] == [1, 3, 4]
    with pytest.raises(DataError) as error:  # unless the reader is told otherwise
        list(iter_rows(path, ("text", "label"), numbers=()))
    assert message(error) == f"{path}:1: field 'label' must be a string, got a JSON number"


def test_check_filled_names_the_first_empty_required_field(tmp_path):
    row = {"text": "a", "text_b": " \t", "label": ""}
    check_filled("f.tsv", 3, row, ("text",))
    with pytest.raises(DataError) as error:
        check_filled("f.tsv", 3, row, ("text", "label", "text_b"), texts=("text", "text_b"))
    assert message(error) == "f.tsv:3: field 'label' is empty"
    with pytest.raises(DataError) as error:
        check_filled("f.tsv", 3, row, ("text_b",), texts=("text", "text_b"))
    assert message(error) == "f.tsv:3: field 'text_b' is empty (a zero-length example)"


def test_tsv_and_csv_with_header_and_aliases(tmp_path):
    tsv = write(tmp_path / "b.tsv", "sentence\tlabel\nhello there \t0\n\n\"not\" quoted\t1\n")
    csv = write(tmp_path / "c.csv", 'label,text\npos,"a, quoted"\nneg,"two\nlines"\n')
    assert values(read_examples([tsv, csv], ("text", "label"))) == [
        {"text": "hello there ", "label": "0"}, {"text": '"not" quoted', "label": "1"},
        {"text": "a, quoted", "label": "pos"}, {"text": "two\nlines", "label": "neg"}]
    # The field's own column wins over an alias.
    both = write(tmp_path / "d.tsv", "sentence\ttext\nfrom alias\tfrom text\n")
    assert values(read_examples([both])) == [{"text": "from text"}]
    pairs = write(tmp_path / "e.tsv", "sentence1\tsentence2\tlabel\nfirst\tsecond\t1\n")
    assert values(read_examples([pairs], ("text", "text_b", "label"))) == [
        {"text": "first", "text_b": "second", "label": "1"}]


def test_tfrecord_of_examples(tmp_path):
    path = str(tmp_path / "d.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for text, label in ((b"rec one", b"0"), ("réc two".encode(), b"1")):
            feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text])),
                       "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    assert values(read_examples([path], ("text", "label"))) == [
        {"text": "rec one", "label": "0"}, {"text": "réc two", "label": "1"}]
    assert values(read_examples([path])) == [{"text": "rec one"}, {"text": "réc two"}]
    # The host reader (data checks, label sets) reads them the same way, by record number.
    assert list(iter_rows(path, ("label", "text"))) == [
        (1, {"label": "0", "text": "rec one"}), (2, {"label": "1", "text": "réc two"})]
    check_readable([path])
    empty = str(tmp_path / "empty.tfrecord")
    with tf.io.TFRecordWriter(empty):
        pass
    with pytest.raises(DataError) as error:
        check_readable([empty])
    assert message(error) == f"{empty}: no examples (the file is empty or only blank lines)"


def test_read_examples_argument_errors(tmp_path):
    text = write(tmp_path / "a.txt", "x\n")
    with pytest.raises(ValueError) as error:
        read_examples([text], text_mode="sentence")
    assert message(error) == "unknown text mode 'sentence'; choose from ('line', 'paragraph')"
    missing = str(tmp_path / "gone.txt")
    with pytest.raises(FileNotFoundError) as error:
        read_examples([text, missing])
    assert message(error) == f"data file '{missing}' does not exist or is not readable"
    record = str(tmp_path / "r.tfrecord")
    with tf.io.TFRecordWriter(record):
        pass
    with pytest.raises(DataError) as error:
        read_examples([record, text])
    assert message(error) == ("TFRecord files cannot be mixed with text formats in one "
                              "--train_data/--eval_data list")


# -- errors with file:line ----------------------------------------------------

@pytest.mark.parametrize("name,content,expected", [
    ("bad.tsv", "text\tlabel\nok\t1\ntoo\tmany\tcols\n",
     "bad.tsv:3: expected 2 columns (text, label), found 3"),
    ("bad.tsv", "text\tlabel\nonly one column\n",
     "bad.tsv:2: expected 2 columns (text, label), found 1"),
    ("bad.csv", "text,label\na,1\n\nb,2,3\n",
     "bad.csv:4: expected 2 columns (text, label), found 3"),
    ("bad.csv", "text,label\na,1\nstray\rreturn,1\n",
     "bad.csv:3: new-line character seen in unquoted field - do you need to open the file "
     "in universal-newline mode?"),
    ("bad.csv", 'text,label\n"never closed,1\nnext,2\n',  # the quote runs to the end
     "bad.csv:3: expected 2 columns (text, label), found 1"),
    ("bad.jsonl", '{"text": "a", "label": 0}\n{"text": oops}\n',
     "bad.jsonl:2: not valid JSON (Expecting value)"),
    ("bad.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": 1\n',
     "bad.jsonl:2: not valid JSON (Expecting ',' delimiter)"),
    ("bad.jsonl", '["a", 0]\n', "bad.jsonl:1: expected a JSON object, got list"),
    ("bad.jsonl", '{"text": "a", "label": 0}\n\n"just a string"\n',
     "bad.jsonl:3: expected a JSON object, got str"),
    ("bad.jsonl", '{"text": "a", "label": 0}\n{"text": "b"}\n', "bad.jsonl:2: missing field 'label'"),
    ("bad.jsonl", '{"text": {"a": 1}, "label": 1}\n',
     "bad.jsonl:1: field 'text' must be a string, got a JSON object"),
    ("bad.jsonl", '{"text": 1.5, "label": 1}\n',
     "bad.jsonl:1: field 'text' must be a string, got a JSON number"),
    ("bad.jsonl", '{"text": "a", "label": [1, 2]}\n',
     "bad.jsonl:1: field 'label' must be a string or a number, got a JSON array"),
    ("bad.jsonl", '{"text": "a", "label": null}\n',
     "bad.jsonl:1: field 'label' must be a string or a number, got a JSON null"),
    ("bad.jsonl", '{"text": "a", "label": 1' + "0" * 5000 + '}\n',
     "bad.jsonl:1: not valid JSON (Exceeds the limit (4300 digits) for integer string "
     "conversion)"),
    ("bad.jsonl", '{"text": "a", "label": 1}\n' + "[" * 50000 + "\n",
     "bad.jsonl:2: not valid JSON (nested too deeply)"),
    ("bad.jsonl", '{"\\ud800": "a", "label": 1}\n',
     "bad.jsonl:1: no column 'text' (columns: \\ud800, label)"),
    ("bad.tsv", "sentence\tscore\nx\t1\n", "bad.tsv:1: no column 'label' (columns: sentence, score)"),
    ("bad.csv", "text\nx\n", "bad.csv:1: no column 'label' (columns: text)"),
])
def test_malformed_rows_name_file_and_line(tmp_path, name, content, expected):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as error:
        list(iter_rows(path, ("text", "label")))
    assert message(error) == f"{tmp_path}/{expected}"


def test_plain_text_cannot_hold_labels(tmp_path):
    path = write(tmp_path / "t.txt", "a\n")
    with pytest.raises(DataError) as error:
        list(iter_rows(path, ("text", "label")))
    assert message(error) == (f"{path}: plain text files hold one field ('text'); this task "
                              "reads text, label: use .tsv, .csv or .jsonl, or one aligned "
                              "text file per field")


@pytest.mark.parametrize("name,content,line,offset", [
    ("bin.txt", b"good line\nbad \xff byte\n", 2, 14),
    ("bin.tsv", b"text\ngood\nbad \xff\n", 3, 14),
    ("bin.jsonl", b'{"text": "good"}\n{"text": "\xc3\xa9 \xe9"}\n', 2, 30),
    ("bin.txt", b"\xff", 1, 0),
])
def test_invalid_utf8_names_file_line_and_offset(tmp_path, name, content, line, offset):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as error:
        list(iter_rows(path, ("text",)))
    assert message(error) == f"{path}:{line}: invalid UTF-8 at byte offset {offset}"


def test_errors_surface_through_the_python_readers_dataset(tmp_path):
    path = write(tmp_path / "late.txt", b"fine\nbad \xc3\x28\n")
    dataset = iter(read_examples([path], native=False))
    assert next(dataset)["text"].numpy() == b"fine"
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        next(dataset)
    assert f"DataError: {path}:2: invalid UTF-8 at byte offset 9" in str(error.value)


@pytest.mark.parametrize("name,content", [
    ("empty.txt", ""), ("blank.txt", "\n\n  \n\t\n"), ("header_only.tsv", "text\tlabel\n"),
    ("blank.jsonl", "\n \n"),
])
def test_empty_files_fail_early(tmp_path, name, content):
    path = write(tmp_path / name, content)
    fields = ("text",) if name.endswith(".txt") else ("text", "label")
    with pytest.raises(DataError) as error:
        check_readable([path], fields)
    assert message(error) == f"{path}: no examples (the file is empty or only blank lines)"


def test_check_readable_passes_good_files_and_reports_the_first_bad_one(tmp_path):
    good = write(tmp_path / "good.txt", "\n\nhello\n")
    check_readable([good])
    check_readable([good], text_mode="paragraph")
    bad = write(tmp_path / "bad.txt", b"\xfe\n")
    with pytest.raises(DataError) as error:
        check_readable([good, bad])
    assert message(error) == f"{bad}:1: invalid UTF-8 at byte offset 0"


# -- edge cases --------------------------------------------------------------

def test_byte_order_mark_is_ignored(tmp_path):
    path = write(tmp_path / "excel.csv", b"\xef\xbb\xbftext,label\nhi,1\n")
    assert [row for _, row in iter_rows(path, ("text", "label"))] == [
        {"text": "hi", "label": "1"}]


def test_jsonl_missing_field_in_first_object_names_its_line(tmp_path):
    path = write(tmp_path / "late.jsonl", '\n\n{"text": "x"}\n')
    with pytest.raises(DataError) as error:
        list(iter_rows(path, ("text", "label")))
    assert message(error).startswith(f"{path}:3: ")


def test_jsonl_lone_surrogate_is_a_data_error(tmp_path):
    path = write(tmp_path / "s.jsonl", '{"text": "ok"}\n{"text": "a\\ud800b"}\n')
    with pytest.raises(DataError) as error:
        list(iter_rows(path, ("text",)))
    assert message(error).startswith(f"{path}:2: ")


def test_blank_lines_before_the_header_are_skipped(tmp_path):
    path = write(tmp_path / "b.tsv", "\ntext\tlabel\na\t1\n")
    assert [row for _, row in iter_rows(path, ("text", "label"))] == [
        {"text": "a", "label": "1"}]
