"""Readers that turn data files into a tf.data stream of raw examples.

Every example is a dict of scalar tf.string tensors keyed by the task's field
names. Formats are chosen by extension: `.txt` (one document per line, or
blank-line separated paragraphs), `.jsonl`, `.tsv`/`.csv` with a header row,
`.tfrecord` of tf.Example; any text format may be gzipped (`train.txt.gz`,
`dev.tsv.gz`: read through gzip). Paths may be local or any `tf.io.gfile`
URL (gs://, s3://, hdfs://, ram://). Malformed rows fail with `file:line`
(for a TFRecord file the number is the record's, from 1).

A field is read from the column (JSON key, TFRecord feature) of its own
name, else of an alias (`FIELD_ALIASES`); `columns` ({field: column}, parsed
from `--columns=text=#1 String,label=Quality` by `parse_columns`) names it.

Example:
    >>> ds = read_examples(["sst2/train.tsv"], fields=("text", "label"))
    >>> next(iter(ds))
    {'text': <tf.Tensor: ... b'hide new secretions ...'>, 'label': <... b'0'>}
"""
from zoo import fileio
from zoo.data.formats.rows import (  # noqa: F401  (file_format, ALIGNED: the readers' API too)
    ALIGNED, NUMBER_FIELDS, aligned_rows, delimited_rows, file_format, json_value,
    jsonl_rows, text_rows, tfrecord_dataset, tfrecord_rows)
from zoo.data.formats.columns import (  # noqa: F401  (DataError, parse_columns: the readers' API too)
    FIELD_ALIASES, DataError, check_columns, parse_columns, resolve_columns, shown)

TEXT_MODES = ("line", "paragraph")


def aligned_sources(paths, fields):
    """Groups plain text files into line-aligned sources, one file per field in
    field order (`train.en,train.de` for source and target); other paths stay.

    Example:
        >>> aligned_sources(["train.en", "train.de"], ("source", "target"))
        ['train.en + train.de']
    """
    if len(fields) < 2 or not paths or len(paths) % len(fields) or \
            any(file_format(p) != "text" for p in paths):
        return list(paths)  # (a lone text file then fails naming the fields it lacks)
    return [ALIGNED.join(paths[i:i + len(fields)]) for i in range(0, len(paths), len(fields))]


def iter_rows(path, fields, text_mode="line", numbers=NUMBER_FIELDS, columns=None):
    """Yields (line_number, {field: str}) for one file of any format (for TFRecord
    files the record number). In JSONL the fields of `numbers` may hold numbers;
    every other value must be a string. `columns` ({field: column} or the
    `--columns` string) names the column of a field in TSV/CSV/JSONL/TFRecord."""
    named = parse_columns(columns)
    fmt = file_format(path)
    if fmt == "aligned":
        yield from aligned_rows(path, fields)
        return
    if fmt == "tfrecord":
        yield from tfrecord_rows(path, fields, named)
        return
    if fmt == "text":
        if tuple(fields) != ("text",):
            raise DataError(f"{path}: plain text files hold one field ('text'); this "
                            f"task reads {', '.join(fields)}: use .tsv, .csv or .jsonl, or "
                            "one aligned text file per field")
        rows = text_rows(path, text_mode)
    elif fmt == "jsonl":
        rows = jsonl_rows(path)
    else:
        rows = delimited_rows(path, "\t" if fmt == "tsv" else ",")
    mapping = None
    for number, row in rows:
        if mapping is None:
            mapping = resolve_columns(path, list(row), fields,
                                       number if fmt == "jsonl" else 1, named)
        try:
            values = {f: row[c] for f, c in mapping.items()}
        except KeyError as missing:
            raise DataError(f"{path}:{number}: missing field '{shown(missing.args[0])}'") \
                from None
        if fmt == "jsonl":
            values = {f: json_value(path, number, f, v, numbers) for f, v in values.items()}
        yield number, values


def check_filled(path, line, row, required, texts=()):
    """Fails naming file and line when a field of `required` is empty or only
    whitespace (`texts`: fields whose emptiness is a zero-length example)."""
    for field in required:
        if not row[field].strip():
            cause = " (a zero-length example)" if field in texts else ""
            raise DataError(f"{path}:{line}: field '{field}' is empty{cause}")


def read_examples(paths, fields=("text",), text_mode="line", columns=None, parallel_files=1,
                  native=True):
    """Returns a tf.data.Dataset of {field: scalar tf.string}; `columns` as in
    `iter_rows`. The files are read by tf.data's readers in the graph
    (`zoo.data.formats.native`), `parallel_files` at a time and interleaved, or file
    after file by this module's Python reader (`native=False`, and for files
    only it reads: CSV with quotes), whose malformed rows fail with file:line
    in the stream. Native reading takes files the data checks passed."""
    import tensorflow as tf
    if text_mode not in TEXT_MODES:
        raise ValueError(f"unknown text mode '{text_mode}'; choose from {TEXT_MODES}")
    fields = tuple(fields)
    named = parse_columns(columns)
    for path in (part for source in paths for part in source.split(ALIGNED)):
        if not fileio.readable(path):
            raise FileNotFoundError(f"data file '{path}' does not exist or is not readable")
    records = [p for p in paths if file_format(p) == "tfrecord"]
    if records:
        if len(records) != len(paths):
            raise DataError("TFRecord files cannot be mixed with text formats in one "
                            "--train_data/--eval_data list")
        return tfrecord_dataset(records, fields, named)
    if native:
        from zoo.data.formats.native import native_examples
        dataset = native_examples(paths, fields, text_mode, named, parallel_files)
        if dataset is not None:
            return dataset

    def generate():
        for path in paths:
            for _, values in iter_rows(path, fields, text_mode, columns=named):
                yield values

    signature = {f: tf.TensorSpec([], tf.string) for f in fields}
    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def check_readable(paths, fields=("text",), text_mode="line", columns=None):
    """Reads the first row of every file, so bad files fail before training."""
    named = parse_columns(columns)
    for path in paths:
        if next(iter_rows(path, fields, text_mode, columns=named), None) is None:
            raise DataError(f"{path}: no examples (the file is empty or only blank lines)")
