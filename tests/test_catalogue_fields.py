"""Bad-input catalogue, part 2: empty fields and JSON value types in data files
(see catalogue.py)."""
import pytest

from zoo.data.formats.readers import DataError, iter_rows
from catalogue import case, cases_of, check_case, labelled, train, write


# -- empty fields -------------------------------------------------------------------

@case
def empty_label(d, _):
    path = labelled(d, rows=("the cat\tpos", "bad\t", "a dog\tneg"))
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:3: field 'label' is empty")


@case
def empty_label_with_the_label_set_given(d, _):
    path = labelled(d, rows=("the cat\tpos", "a dog\tneg", "bad\t "))
    return (train(d, task="classification", train_data=path, task_config="labels=neg|pos"),
            DataError, f"{path}:4: field 'label' is empty")


@case
def empty_regression_target(d, _):
    path = labelled(d, rows=("the cat\t0.5", "a dog\t"))
    return (train(d, task="regression", train_data=path), DataError,
            f"{path}:3: field 'label' is empty")


@case
def empty_translation_target(d, _):
    path = write(d / "pairs.tsv", "source\ttarget\nthe cat\tdie katze\na dog\t\n")
    return (train(d, model="t5_nano", task="translation", train_data=path), DataError,
            f"{path}:3: field 'target' is empty (a zero-length example)")


@case
def empty_translation_source_in_jsonl(d, _):
    path = write(d / "pairs.jsonl", '{"source": "the cat", "target": "die katze"}\n'
                                    '{"source": " ", "target": "ein hund"}\n')
    return (train(d, model="t5_nano", task="translation", train_data=path), DataError,
            f"{path}:2: field 'source' is empty (a zero-length example)")


@case
def empty_line_in_one_aligned_file(d, _):
    source = write(d / "train.en", "the cat\na dog\n")
    target = write(d / "train.de", "die katze\n\n")
    return (train(d, model="t5_nano", task="translation", train_data=f"{source},{target}"),
            DataError, f"{target}:2: empty line where {source} has text")


@case
def empty_text_in_jsonl_for_pretraining(d, _):
    path = write(d / "docs.jsonl", '{"text": "the cat sat"}\n{"text": ""}\n')
    return (train(d, train_data=path), DataError,
            f"{path}:2: field 'text' is empty (a zero-length example)")


# -- JSON value types -----------------------------------------------------------------

@case
def jsonl_text_that_is_an_object(d, _):
    path = write(d / "rows.jsonl", '{"text": "the cat", "label": 0}\n'
                                   '{"text": {"a": 1}, "label": 1}\n')
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:2: field 'text' must be a string, got a JSON object")


@case
def jsonl_text_that_is_a_number(d, _):
    path = write(d / "rows.jsonl", '{"text": 12, "label": 0}\n{"text": "a dog", "label": 1}\n')
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:1: field 'text' must be a string, got a JSON number")


@case
def jsonl_text_that_is_an_array(d, _):
    path = write(d / "rows.jsonl", '{"text": "the cat"}\n{"text": ["a", "dog"]}\n')
    return (train(d, train_data=path), DataError,
            f"{path}:2: field 'text' must be a string, got a JSON array")


@case
def jsonl_second_text_that_is_null(d, _):
    path = write(d / "pairs.jsonl", '{"text": "the cat", "text_b": null, "label": 0.5}\n')
    return (train(d, task="regression", task_config="pair=true", train_data=path), DataError,
            f"{path}:1: field 'text_b' must be a string, got a JSON null")


@case
def jsonl_label_that_is_an_object(d, _):
    path = write(d / "rows.jsonl", '{"text": "the cat", "label": 0}\n'
                                   '{"text": "a dog", "label": {"id": 1}}\n')
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:2: field 'label' must be a string or a number, got a JSON object")


@case
def jsonl_label_that_is_a_boolean(d, _):
    path = write(d / "rows.jsonl", '{"text": "the cat", "label": true}\n')
    return (train(d, task="classification", train_data=path), DataError,
            f"{path}:1: field 'label' must be a string or a number, got a JSON boolean")


@case
def jsonl_translation_target_that_is_a_number(d, _):
    path = write(d / "pairs.jsonl", '{"source": "one", "target": 1}\n')
    return (train(d, model="t5_nano", task="translation", train_data=path), DataError,
            f"{path}:1: field 'target' must be a string, got a JSON number")


@case
def jsonl_nested_too_deeply(d, _):
    path = write(d / "deep.jsonl", '{"text": "the cat"}\n' + "[" * 100000 + "\n")
    return (lambda: list(iter_rows(path, ("text",))), DataError,
            f"{path}:2: not valid JSON (nested too deeply)")


@pytest.mark.parametrize("name", cases_of(__name__))
def test_catalogue(name, case_env):
    check_case(name, case_env)
