"""--columns=field=column,...: the task's fields read from columns of other names
(GLUE MRPC as shipped), in zoo-train, zoo-prep, zoo-vocab and zoo-export --eval_data;
and the catalogue cases of bad mappings and gzipped files."""
import gzip
import json

import pytest
from absl import flags

from zoo.cli.common import UsageError
from zoo.data.formats.readers import (DataError, check_columns, check_readable, iter_rows,
                              parse_columns, read_examples)
from catalogue import case, cases_of, check_case, train, write

MRPC_COLUMNS = "text=#1 String,text_b=#2 String,label=Quality"
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
MRPC_ROWS = ("1\t702876\t702977\tAmrozi accused his brother .\tReferring to him , Amrozi "
             "accused his brother .",
             "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's .",
             "1\t1330381\t1330521\tThey had published it .\tOn June 10 , they published it .",
             "0\t3344667\t3344648\tTab shares jumped 20 cents .\tPCCW 's chief was away .")


def mrpc(d, name="train.tsv", rows=MRPC_ROWS):
    return write(d / name, MRPC_HEADER + "\n" + "\n".join(rows) + "\n")


def rows_of(dataset):
    return [{k: v.numpy().decode() for k, v in row.items()} for row in dataset]


# -- parsing and reading ----------------------------------------------------------

def test_parse_columns_keeps_spaces_and_hashes():
    assert parse_columns(MRPC_COLUMNS) == {"text": "#1 String", "text_b": "#2 String",
                                           "label": "Quality"}
    assert parse_columns("") == {} and parse_columns(None) == {}
    assert parse_columns("text= a b ") == {"text": " a b "}  # names are verbatim
    with pytest.raises(ValueError, match="'text' is not field=column"):
        parse_columns("text")
    with pytest.raises(ValueError, match="field 'text' is mapped twice"):
        parse_columns("text=a,text=b")
    with pytest.raises(ValueError, match="maps 'label', which is not read here"):
        check_columns("label=Quality", ("text",))


def test_mrpc_tsv_is_read_through_the_mapping(tmp_path):
    path = mrpc(tmp_path)
    fields = ("text", "text_b", "label")
    rows = rows_of(read_examples([path], fields, columns=MRPC_COLUMNS))
    assert rows[0] == {"text": "Amrozi accused his brother .",
                       "text_b": "Referring to him , Amrozi accused his brother .",
                       "label": "1"}
    assert [r["label"] for r in rows] == ["1", "0", "1", "0"]
    assert [n for n, _ in iter_rows(path, fields, columns=MRPC_COLUMNS)] == [2, 3, 4, 5]
    with pytest.raises(DataError, match=r"train\.tsv:1: no column 'text'"):
        check_readable([path], fields)  # without the mapping, as before


def test_mapping_of_csv_jsonl_and_tfrecord_and_partial_mappings(tmp_path):
    import tensorflow as tf
    csv_path = write(tmp_path / "a.csv", "review,stars\n\"good, really\",5\n")
    assert rows_of(read_examples([csv_path], ("text", "label"),
                                 columns="text=review,label=stars")) == [
        {"text": "good, really", "label": "5"}]
    jsonl = write(tmp_path / "a.jsonl", json.dumps({"body": "fine", "label": 1}) + "\n")
    # Only `text` is mapped: `label` is still found under its own name.
    assert rows_of(read_examples([jsonl], ("text", "label"), columns="text=body")) == [
        {"text": "fine", "label": "1"}]
    record = str(tmp_path / "a.tfrecord")
    with tf.io.TFRecordWriter(record) as writer:
        writer.write(tf.train.Example(features=tf.train.Features(feature={
            "sentence_a": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x y"]))
        })).SerializeToString())
    assert rows_of(read_examples([record], ("text",), columns="text=sentence_a")) == [
        {"text": "x y"}]
    assert [r for _, r in iter_rows(record, ("text",), columns="text=sentence_a")] == [
        {"text": "x y"}]


# -- the zoo-* apps ---------------------------------------------------------------

def test_zoo_train_checks_mrpc_with_columns(tmp_path, monkeypatch):
    """zoo-train's data checks (labels learned from the Quality column) pass with the
    mapping; the run stops right after them (no model is built)."""
    import zoo.train.job as job
    seen = {}

    def stop(opts, config, train_paths, directory):
        seen["labels"] = config.task_config["labels"]
        raise RuntimeError("stop before the vocab")
    monkeypatch.setattr(job, "prepare_vocab", stop)
    path = mrpc(tmp_path)
    with pytest.raises(RuntimeError, match="stop before the vocab"):
        train(tmp_path, task="classification", task_config="pair=true", train_data=path,
              eval_data=mrpc(tmp_path, "dev.tsv"), columns=MRPC_COLUMNS)()
    assert seen["labels"] == "0|1"


def test_zoo_vocab_and_zoo_prep_read_mapped_columns(tmp_path):
    from zoo.cli import prep as prep_cli
    from zoo.cli import vocab as vocab_cli
    path = mrpc(tmp_path)
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["zoo-vocab", f"--train_data={path}", "--vocab_size=60",
                     "--fields=text,text_b", f"--columns={MRPC_COLUMNS.rsplit(',', 1)[0]}",
                     f"--output={tmp_path}/vocab.txt"])
        vocab_cli.main(["zoo-vocab"])
        vocab = (tmp_path / "vocab.txt").read_text().split("\n")
        # The sentences' letters are in it; the digits only the ID columns have are not.
        assert {"z", "y", "p"} <= set(vocab) and not {"7", "9"} & set(vocab)
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["zoo-prep", f"--train_data={path}", f"--output={tmp_path}/clean.tsv",
                     "--fields=text,text_b", "--columns=text=#1 String,text_b=#2 String"])
        prep_cli.main(["zoo-prep"])
        cleaned = (tmp_path / "clean.tsv").read_text().splitlines()
        assert cleaned[0] == MRPC_HEADER and len(cleaned) == 1 + len(MRPC_ROWS)
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["zoo-vocab", f"--train_data={path}", "--columns=label=Quality",
                     f"--output={tmp_path}/v2.txt"])
        with pytest.raises(UsageError, match="maps 'label', which is not read here"):
            vocab_cli.main(["zoo-vocab"])
    finally:
        flags.FLAGS.unparse_flags()


# -- catalogue: bad mappings and gzipped files --------------------------------------

@case
def columns_name_no_column(d, _):
    path = mrpc(d)
    return (train(d, task="classification", task_config="pair=true", train_data=path,
                  columns="text=#1 Sentence,text_b=#2 String,label=Quality"), DataError,
            f"{path}:1: no column '#1 Sentence' (--columns text=#1 Sentence); columns: "
            "Quality, #1 ID, #2 ID, #1 String, #2 String")


@case
def columns_jsonl_key_missing(d, _):
    path = write(d / "a.jsonl", '{"body": "x", "label": "pos"}\n{"body": "y", "label": "neg"}\n')
    return (train(d, task="classification", train_data=path, columns="text=review"),
            DataError, f"{path}:1: no column 'review' (--columns text=review); columns: "
            "body, label")


@case
def columns_map_a_field_the_task_does_not_read(d, _):
    path = mrpc(d)
    return (train(d, task="classification", train_data=path, columns=MRPC_COLUMNS),
            UsageError, "--columns maps 'text_b', which is not read here: the fields are "
                        "text, label")


@case
def columns_not_field_equals_column(d, _):
    path = mrpc(d)
    return (train(d, task="classification", train_data=path, columns="text"),
            UsageError, "--columns: 'text' is not field=column (e.g. text=#1 String,"
                        "label=Quality)")


@case
def gzipped_tsv_with_a_short_row(d, _):
    path = write(d / "train.tsv.gz", gzip.compress(b"text\tlabel\nthe cat\tpos\na dog\n"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:3: expected 2 columns (text, label), found 1")


@case
def gzipped_text_with_invalid_utf8(d, _):
    path = write(d / "corpus.txt.gz", gzip.compress(b"good line\nbad \xff byte\n"))
    return (lambda: list(iter_rows(path, ("text",))), DataError,
            f"{path}:2: invalid UTF-8 at byte offset 14")


@case
def not_gzip_despite_the_name(d, _):
    path = write(d / "corpus.txt.gz", "plain text\n")
    return (lambda: check_readable([path]), DataError,
            f"{path}:1: not a readable gzip file (Not a gzipped file (b'pl'))")


@pytest.mark.parametrize("name", cases_of(__name__))
def test_catalogue(name, case_env):
    check_case(name, case_env)
