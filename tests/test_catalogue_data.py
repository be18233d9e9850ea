"""Bad-input catalogue, part 1: malformed data files and labels (see catalogue.py)."""
import pytest

from zoo.cli.common import UsageError
from zoo.data.readers import DataError, check_readable, iter_rows, read_examples
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
