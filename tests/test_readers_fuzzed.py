"""Readers under fuzzing: every reader path, fed any bytes, gives rows of the asked
fields or a DataError naming the file; never another exception."""
import json

import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.data.formats.readers import DataError, aligned_sources, iter_rows, read_examples
from test_readers import values


# -- fuzzing --------------------------------------------------------------------
# Every reader path (plain text lines and paragraphs, tsv/csv, JSONL, aligned text
# files, TFRecord), fed any bytes: rows of the asked fields, or a DataError that
# names the file; never another exception. Inputs are mostly well-formed with
# damage here and there, sometimes arbitrary bytes.

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
_NASTY = [b"\t", b",", b"\n", b"\r\n", b"\r", b'"', b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf",
          b"\xed\xa0\x80", b"\\", b"{", b"}", b"[", b":"]
_CLEAN = [b"a", b"b c", b"1", b"\xc3\xa9", b" ", b"text", b"label"]


def _mostly(clean, nasty):
    """`clean` three times in four, else `nasty`."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda ok: clean if ok else nasty)


def _bytes(*extra):
    """Arbitrary bytes, or a run of pieces that matter to the readers."""
    pieces = st.lists(st.sampled_from(_CLEAN + _NASTY + list(extra)), max_size=60)
    return st.one_of(st.binary(max_size=300), pieces.map(b"".join))


_CELL = _mostly(st.lists(st.sampled_from(_CLEAN), max_size=4).map(b"".join),
                st.lists(st.sampled_from(_CLEAN + _NASTY), max_size=6).map(b"".join))


def _rows_or_a_clean_error(paths, source, fields, text_mode="line"):
    """Reads `source` to the end; returns the rows, or None after a clean DataError.
    Rows the host reader accepts (the data checks') are the rows the training
    pipeline's native readers give, in order."""
    try:
        rows = list(iter_rows(source, fields, text_mode))
    except DataError as error:
        assert any(str(error).startswith(f"{p}:") or f" {p} " in f" {error} "
                   for p in paths), str(error)
        return None
    for line, row in rows:
        assert isinstance(line, int) and line >= 1
        assert set(row) == set(fields) and all(isinstance(v, str) for v in row.values())
        for value in row.values():
            value.encode("utf-8")  # no unpaired surrogate reaches TensorFlow
    assert values(read_examples([source], fields, text_mode)) == [row for _, row in rows]
    return rows


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


_LINES = st.lists(_CELL, max_size=8).map(b"\n".join)


@FUZZ
@given(data=_mostly(_LINES, _bytes(b"\n\n", b"\n \n")),
       text_mode=st.sampled_from(["line", "paragraph"]))
def test_fuzzed_plain_text(tmp_path, data, text_mode):
    path = _write(tmp_path / "fuzz.txt", data)
    rows = _rows_or_a_clean_error([path], path, ("text",), text_mode)
    if rows is not None:
        assert all(row["text"].strip() for _, row in rows)


@st.composite
def _table(draw, delimiter):
    columns = draw(st.sampled_from([(b"text", b"label"), (b"label", b"text"),
                                    (b"sentence", b"label", b"x"), (b"text",)]))
    bom = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\n"]))
    rows = draw(st.lists(st.lists(_CELL, min_size=len(columns), max_size=len(columns)),
                         max_size=6))
    return bom + b"\n".join(delimiter.join(row) for row in [list(columns)] + rows) + b"\n"


@FUZZ
@given(suffix_and_data=st.sampled_from([(".tsv", b"\t"), (".csv", b",")]).flatmap(
    lambda sd: st.tuples(st.just(sd[0]), _mostly(_table(sd[1]), _bytes()))))
def test_fuzzed_delimited(tmp_path, suffix_and_data):
    suffix, data = suffix_and_data
    path = _write(tmp_path / f"fuzz{suffix}", data)
    _rows_or_a_clean_error([path], path, ("text", "label"))


# (No subnormal floats: TensorFlow's threads flush them to zero, so JSONL decoded in
# the training pipeline reads 1e-310 as 0.0; the README says so.)
_FLOATS = st.floats(allow_subnormal=False)
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | _FLOATS | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) |
    st.dictionaries(st.sampled_from(["text", "label", "x"]), children, max_size=3),
    max_leaves=6)
_JSON_ROW = st.fixed_dictionaries(
    {"text": _mostly(st.text(max_size=8), _JSON_VALUE),
     "label": _mostly(st.text(max_size=3) | st.integers() | _FLOATS, _JSON_VALUE)},
    optional={"x": _JSON_VALUE, "sentence": _JSON_VALUE}).map(
    lambda row: json.dumps(row, ensure_ascii=False).encode())
_JSON_ODD = st.one_of(
    _JSON_VALUE.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b'{"text": "a\\ud800", "label": 1}', b'{"text": "a", "label": 1e999}',
                     b'{"text": "a", "label": NaN}', b"[" * 5000, b'{"text": "a", "label": 1' +
                     b"0" * 5000 + b"}", b'{"text": "a", "text": 1, "label": "x"}',
                     b'{"\\udfff": 1}', b"\xef\xbb\xbf{}", b'{"text": "\\u0000", "label": -0.0}',
                     b'{"sentence": "s", "label": "l"}', b""]),
    _bytes(b'"text"', b"null", b"\\u0000", b"\\ud800"))


@FUZZ
@given(lines=st.lists(_mostly(_JSON_ROW, _JSON_ODD), max_size=5))
def test_fuzzed_jsonl(tmp_path, lines):
    path = _write(tmp_path / "fuzz.jsonl", b"\n".join(lines))
    rows = _rows_or_a_clean_error([path], path, ("text", "label"))
    if rows:  # strings as they are, labels that are numbers as their JSON text
        objects = {n: json.loads(lines[n - 1].decode("utf-8-sig")) for n, _ in rows}
        column = "text" if "text" in objects[rows[0][0]] else "sentence"
        for number, row in rows:
            assert row["text"] == objects[number][column]
            label = objects[number]["label"]
            assert row["label"] == (label if isinstance(label, str) else json.dumps(label))
            assert not isinstance(label, bool) and label is not None


@FUZZ
@given(texts=st.lists(st.tuples(_CELL, _CELL), max_size=6), ends=st.sampled_from(
    [(b"\n", b"\n"), (b"\n", b""), (b"", b"\n\n"), (b"\r\n", b"\n")]),
       raw=_mostly(st.none(), st.tuples(_bytes(), _bytes())))
def test_fuzzed_aligned_text_files(tmp_path, texts, ends, raw):
    contents = raw or [b"\n".join(column) + end for column, end in
                       zip(zip(*texts) if texts else ((), ()), ends)]
    paths = [_write(tmp_path / "fuzz.en", contents[0]), _write(tmp_path / "fuzz.de", contents[1])]
    (aligned,) = aligned_sources(paths, ("source", "target"))
    rows = _rows_or_a_clean_error(paths, aligned, ("source", "target"))
    if rows is not None:
        assert all(row["source"].strip() and row["target"].strip() for _, row in rows)


def _feature(value):
    if isinstance(value, bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    if isinstance(value, list) and all(isinstance(v, bytes) for v in value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=value))
    if isinstance(value, list):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=value))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


_FEATURE = st.one_of(st.binary(max_size=12), st.lists(st.binary(max_size=4), max_size=2),
                     st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=2),
                     st.floats(width=32))
_EXAMPLE = st.fixed_dictionaries(
    {"text": _mostly(st.text(max_size=8).map(str.encode), _FEATURE),
     "label": _mostly(st.text(max_size=3).map(str.encode), _FEATURE)},
    optional={"x": _FEATURE}).map(lambda row: tf.train.Example(features=tf.train.Features(
        feature={k: _feature(v) for k, v in row.items()})).SerializeToString())


@FUZZ
@given(records=st.lists(_mostly(_EXAMPLE, st.binary(max_size=40)), min_size=1, max_size=4),
       damage=st.sampled_from(["none", "none", "flip", "cut", "bytes"]),
       where=st.integers(0, 1000), raw=st.binary(max_size=200))
def test_fuzzed_tfrecord(tmp_path, records, damage, where, raw):
    path = str(tmp_path / "fuzz.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    data = bytearray(open(path, "rb").read())
    if damage == "flip":  # one damaged byte
        data[where % len(data)] ^= 0x5A
    elif damage == "cut":  # the file cut short
        del data[where % len(data):]
    _write(path, raw if damage == "bytes" else bytes(data))
    _rows_or_a_clean_error([path], path, ("text", "label"))
