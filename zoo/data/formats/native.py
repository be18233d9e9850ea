"""Data files read by tf.data's own readers, in the graph: the training hot path.

The rows are those `zoo.data.formats.readers.iter_rows` yields, for files the data
checks have already read through (`zoo.train.preparation.check_task_rows`):
malformed rows fail there, with file and line, before training starts.

- plain text (`.txt`, any extension-less file), lines or blank-line separated
  paragraphs, and line-aligned text files (one per field): `TextLineDataset`,
  with the line endings, blank lines and a leading byte order mark handled as
  the Python reader handles them, in vectorised ops over blocks of lines;
- TSV, and CSV without a quote character: split on the delimiter in
  the graph, columns picked by the header each file has (read host side);
- TFRecord of tf.Example: `TFRecordDataset` and `parse_example`;
- JSONL: lines from `TextLineDataset`, decoded by Python's `json` in blocks of
  `JSON_BLOCK` lines (`tf.py_function`): the one format that still needs the
  Python interpreter of the host. CSV that quotes, and files with a carriage
  return inside a line (tf.data's line reader drops every '\r'), are read by
  the Python reader (`Dataset.from_generator`). Convert either to TFRecord (or TSV) for a
  pipeline with no Python in it.

Any of them may be gzipped (`.gz`). The files are read `parallel_files` at a
time and interleaved one example each, in a fixed order (`deterministic`), so
the stream is a function of the file list alone; every piece is a tf.data
dataset whose iterator state can be saved in a checkpoint.

Example:
    >>> ds = native_examples(["a.txt.gz", "b.txt.gz"], ("text",), parallel_files=2)
    >>> [e["text"].numpy() for e in ds]    # a1, b1, a2, b2, ...
"""
import csv
import json
import re

import tensorflow as tf

from zoo import fileio
from zoo.data.formats.columns import DataError, parse_columns, resolve_columns
from zoo.data.formats.rows import (ALIGNED, NUMBER_FIELDS, decoded_lines, file_format, json_value,
                                   tfrecord_dataset)

#: Lines per block of vectorised cleaning (and per `tf.py_function` call for JSONL).
LINE_BLOCK = 1024
JSON_BLOCK = 512
#: Python's str.isspace() characters, for "a blank line" as str.strip() sees it.
_BLANK = r"[\t-\r\x{1c}-\x{1f} \x{85}\p{Z}]*"
_BOM = "\ufeff"
_SCAN_BLOCK = 1 << 22


def _compression(path):
    return "GZIP" if fileio.is_gzip(path) else ""


def _line_blocks(path, compression):
    """Blocks of up to LINE_BLOCK lines of a file, endings stripped as
    `str.rstrip('\\r\\n')` does, and a byte order mark dropped from the first line:
    vectorised, so no function runs per line."""
    blocks = tf.data.TextLineDataset(path, compression, buffer_size=1 << 20) \
        .batch(LINE_BLOCK).enumerate()

    def clean(index, lines):
        lines = tf.strings.regex_replace(lines, r"[\r\n]+$", "")
        first = tf.strings.regex_replace(lines[:1], "^" + _BOM, "")
        return tf.cond(index == 0, lambda: tf.concat([first, lines[1:]], 0), lambda: lines)
    return blocks.map(clean)


def _raw_lines(path, compression):
    """The lines of a file, cleaned as `_line_blocks` cleans them."""
    return _line_blocks(path, compression).unbatch()


def _is_blank(lines):
    return tf.strings.regex_full_match(lines, _BLANK)


def _text_lines(row):
    blocks = _line_blocks(row["path"], row["compression"])
    return blocks.map(lambda lines: {"text": tf.boolean_mask(lines, ~_is_blank(lines))}) \
        .unbatch()


def _paragraphs(row):
    """Runs of non-blank lines joined by '\\n' (a blank line ends one)."""
    lines = _raw_lines(row["path"], row["compression"]).concatenate(
        tf.data.Dataset.from_tensors(tf.constant("")))

    def step(state, line):
        text, open_ = state
        blank = _is_blank(line)
        joined = tf.where(open_, tf.strings.join([text, line], "\n"), line)
        emitted = (blank & open_, text)
        return (tf.where(blank, "", joined), ~blank), emitted

    return lines.scan((tf.constant(""), tf.constant(False)), step) \
        .filter(lambda emit, text: emit).map(lambda emit, text: {"text": text})


def _delimited(delimiter, fields):
    def read(row):
        lines = _raw_lines(row["path"], row["compression"]).skip(tf.cast(row["header_line"], tf.int64))

        def parse(block):
            cells = tf.strings.split(block, delimiter)
            single = cells.row_lengths() == 1
            keep = ~(single & _is_blank(block))  # csv's empty row (one blank cell)
            cells = tf.ragged.boolean_mask(cells, keep)
            return {field: tf.gather(cells, row["columns"][i], axis=1)
                    for i, field in enumerate(fields)}
        return lines.batch(LINE_BLOCK).map(parse).unbatch()
    return read


def _jsonl(fields, named):
    def parse_block(block, path):
        path = path.numpy().decode("utf-8")
        rows = [json.loads(line) for line in block.numpy()]
        mapping = resolve_columns(path, list(rows[0]), fields, 0, named) \
            if rows else {}
        return [[json_value(path, 0, f, row[mapping[f]], NUMBER_FIELDS)
                 .encode("utf-8") for row in rows] for f in fields]

    def read(row):
        lines = _line_blocks(row["path"], row["compression"]).map(
            lambda block: tf.boolean_mask(block, ~_is_blank(block))).unbatch()

        def parse(block):
            columns = tf.py_function(parse_block, [block, row["path"]],
                                     [tf.string] * len(fields))
            return {f: tf.ensure_shape(c, [None]) for f, c in zip(fields, columns)}
        return lines.batch(JSON_BLOCK).map(parse).unbatch()
    return read


def _aligned(fields):
    def read(row):
        sources = [_raw_lines(row["path"][i], row["compression"][i])
                   for i in range(len(fields))]

        def keep(*lines):
            return ~tf.reduce_all(tf.stack([_is_blank(line) for line in lines]))
        return tf.data.Dataset.zip(tuple(sources)).filter(keep).map(
            lambda *lines: dict(zip(fields, lines)))
    return read


def _header(path, delimiter):
    """(line number of the header row, its column names), as the Python reader
    finds them: the first row with a non-blank cell."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader((line for _, line in decoded_lines(path)),
                        delimiter=delimiter, quoting=quoting)
    for row in reader:
        if any(cell.strip() for cell in row):
            return reader.line_num, [cell.strip() for cell in row]
    return reader.line_num, []


def _python_only(path, fmt):
    """True if a file holds what tf.data's line reader reads otherwise than Python
    does: a carriage return inside a line (it drops every '\r'), or, in CSV, a
    quote character (quoted cells follow csv's rules, over lines too)."""
    pattern = re.compile(rb'\r(?!\r*\n)|"' if fmt == "csv" else rb"\r(?!\r*\n)")
    tail = b""
    with fileio.open_file(path, "rb") as handle:
        while True:
            chunk = handle.read(_SCAN_BLOCK)
            if not chunk:
                return bool(tail) and pattern.search(tail + b"\n") is not None
            block = tail + chunk
            keep = len(block) - len(block.rstrip(b"\r"))  # (its '\n' may be next)
            if pattern.search(block[:len(block) - keep] if keep else block):
                return True
            tail = block[len(block) - keep:] if keep else b""


def file_table(paths, fields, text_mode="line", columns=None):
    """(kind, {column: values per file}) of files that one reader reads, or
    (None, None) when they need the Python reader: formats mixed, a CSV that
    quotes, a carriage return inside a line, or a header without the fields."""
    named = parse_columns(columns)
    formats = {file_format(p) for p in paths}
    if len(formats) != 1:
        return None, None
    fmt = formats.pop()
    if fmt != "tfrecord" and any(_python_only(part, fmt) for path in paths
                                 for part in path.split(ALIGNED)):
        return None, None
    table = {"path": list(paths), "compression": [_compression(p) for p in paths]}
    if fmt == "text":
        return ("lines" if text_mode == "line" else "paragraphs"), table
    if fmt == "aligned":
        parts = [p.split(ALIGNED) for p in paths]
        return "aligned", {"path": parts, "compression": [[_compression(p) for p in row]
                                                         for row in parts]}
    if fmt == "jsonl":
        return "jsonl", table
    if fmt in ("tsv", "csv"):
        delimiter = "\t" if fmt == "tsv" else ","
        table["header_line"], table["columns"] = [], []
        for path in paths:
            line, header = _header(path, delimiter)
            try:
                mapping = resolve_columns(path, header, fields, 1, named)
            except DataError:  # (fails at its first row, if any: in the Python reader)
                return None, None
            indices = [header.index(mapping[f]) for f in fields]
            table["header_line"].append(line)
            table["columns"].append(indices)
        return fmt, table
    return fmt, table


def reads_natively(paths, fields=("text",), text_mode="line", columns=None):
    """True if `native_examples` reads these files (no file needs Python's reader)."""
    return file_table(paths, tuple(fields), text_mode, columns)[0] is not None


def host_python_reason(paths, fields=("text",), text_mode="line", columns=None):
    """Why reading these files needs the host's Python interpreter on every batch
    (JSONL's decoding; the Python reader's files), or None when tf.data's own ops
    read them."""
    kind = file_table(paths, tuple(fields), text_mode, columns)[0]
    if kind is None:
        return ("they need the Python reader (a CSV with quote characters, or a "
                "carriage return inside a line)")
    if kind == "jsonl":
        return "JSONL lines are decoded by Python's json"
    return None


def native_examples(paths, fields=("text",), text_mode="line", columns=None, parallel_files=1):
    """A dataset of {field: scalar tf.string} read in the graph (see module doc),
    or None when a file needs the Python reader."""
    fields = tuple(fields)
    kind, table = file_table(paths, fields, text_mode, columns)
    if kind is None:
        return None
    if kind == "tfrecord":
        return tfrecord_dataset(paths, fields, parse_columns(columns))
    read = {"lines": _text_lines, "paragraphs": _paragraphs,
            "tsv": _delimited("\t", fields), "csv": _delimited(",", fields),
            "jsonl": _jsonl(fields, parse_columns(columns)),
            "aligned": _aligned(fields)}[kind]
    files = tf.data.Dataset.from_tensor_slices(table)
    cycle = max(1, min(parallel_files, len(paths)))
    if cycle == 1:
        return files.flat_map(read)
    return files.interleave(read, cycle_length=cycle, block_length=1,
                            num_parallel_calls=cycle, deterministic=True)
