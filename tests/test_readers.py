"""Readers: every format, file lists, and file:line errors; a fuzz property."""
import json

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.data.files import expand_paths
from zoo.data.readers import DataError, check_readable, iter_rows, read_examples


def values(dataset):
    return [{k: v.numpy().decode() for k, v in row.items()} for row in dataset]


def test_expand_paths_globs_and_lists(tmp_path):
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("x\n")
    assert expand_paths(f"{tmp_path}/*.txt,{tmp_path}/c.md") == [
        f"{tmp_path}/a.txt", f"{tmp_path}/b.txt", f"{tmp_path}/c.md"]
    with pytest.raises(FileNotFoundError, match=f"no data file matches '{tmp_path}/none\\*.txt'"):
        expand_paths(f"{tmp_path}/a.txt,{tmp_path}/none*.txt")


def test_text_lines_and_paragraphs(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("first line\n\nsecond\nthird\n\n\n")
    assert values(read_examples([str(path)])) == [
        {"text": "first line"}, {"text": "second"}, {"text": "third"}]
    assert values(read_examples([str(path)], text_mode="paragraph")) == [
        {"text": "first line"}, {"text": "second\nthird"}]


def test_jsonl_tsv_csv_and_aliases(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "hi", "label": 1}) + "\n\n")
    (tmp_path / "b.tsv").write_text("sentence\tlabel\nhello there \t0\n")
    (tmp_path / "c.csv").write_text('text,label\n"a, quoted",pos\n')
    fields = ("text", "label")
    assert values(read_examples([str(tmp_path / n) for n in ("a.jsonl", "b.tsv", "c.csv")],
                                fields)) == [{"text": "hi", "label": "1"},
                                             {"text": "hello there ", "label": "0"},
                                             {"text": "a, quoted", "label": "pos"}]


def test_tfrecord_of_examples(tmp_path):
    path = str(tmp_path / "d.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"rec one"]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                     .SerializeToString())
    assert values(read_examples([path])) == [{"text": "rec one"}]


@pytest.mark.parametrize("name,content,message", [
    ("bad.tsv", "text\tlabel\nok\t1\ntoo\tmany\tcols\n",
     r"bad.tsv:3: expected 2 columns \(text, label\), found 3"),
    ("bad.tsv", "text\tlabel\nonly one column\n",
     r"bad.tsv:2: expected 2 columns \(text, label\), found 1"),
    ("bad.jsonl", '{"text": "a", "label": 0}\n{"text": oops}\n',
     r"bad.jsonl:2: not valid JSON \(Expecting value\)"),
    ("bad.jsonl", '["a", 0]\n', r"bad.jsonl:1: expected a JSON object, got list"),
    ("bad.jsonl", '{"text": "a", "label": 0}\n{"text": "b"}\n', r"bad.jsonl:2: missing field 'label'"),
    ("bad.tsv", "sentence\tscore\nx\t1\n", r"bad.tsv:1: no column 'label' \(columns: sentence, score\)"),
])
def test_malformed_rows_name_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=f"^{tmp_path}/{message}$"):
        list(iter_rows(str(path), ("text", "label")))


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"good line\nbad \xff byte\n")
    with pytest.raises(DataError, match=f"^{path}:2: invalid UTF-8 at byte offset"):
        list(iter_rows(str(path), ("text",)))


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_files_fail_early(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=f"^{path}: no examples \\(the file is empty or only "
                                        "blank lines\\)$"):
        check_readable([str(path)])


def test_plain_text_cannot_hold_labels(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\n")
    with pytest.raises(DataError, match="plain text files hold one field"):
        list(iter_rows(str(path), ("text", "label")))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".txt", ".tsv", ".csv", ".jsonl"]))
def test_fuzzed_bytes_give_rows_or_a_clean_error(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    fields = ("text",) if suffix == ".txt" else ("text", "label")
    try:
        for line, row in iter_rows(str(path), fields):
            assert isinstance(line, int) and all(isinstance(v, str) for v in row.values())
    except DataError as error:
        assert str(error).startswith(str(path))
