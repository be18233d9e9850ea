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
import csv
import json
import re
import zlib

from zoo import fileio
from zoo.data.columns import (  # noqa: F401  (DataError, parse_columns: the readers' API too)
    FIELD_ALIASES, DataError, check_columns, parse_columns, resolve_columns, shown)

TEXT_MODES = ("line", "paragraph")
#: Joins line-aligned plain text files (one per field) into one data source.
ALIGNED = " + "
#: Fields whose JSON value may be a number (stored as its JSON text, e.g. `1`,
#: `0.5`); every other field must hold a JSON string.
NUMBER_FIELDS = ("label",)
_JSON_KINDS = {dict: "object", list: "array", bool: "boolean", type(None): "null",
               int: "number", float: "number"}


def file_format(path):
    if ALIGNED in path:
        return "aligned"
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ext, fmt in ((".txt", "text"), (".jsonl", "jsonl"), (".json", "jsonl"),
                     (".tsv", "tsv"), (".csv", "csv"), (".tfrecord", "tfrecord"),
                     (".tfrecords", "tfrecord")):
        if name.endswith(ext):
            return fmt
    return "text"  # extension-less files (e.g. train.en) are plain text


def _raw_lines(path):
    """The lines of a file as bytes (gunzipped for `.gz`); a damaged gzip stream
    fails with file:line (the line it breaks in)."""
    with fileio.open_file(path, "rb") as handle:
        lines, number = iter(handle), 0
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as error:
                if not fileio.is_gzip(path):
                    raise
                raise DataError(f"{path}:{number + 1}: not a readable gzip file "
                                f"({error})") from None
            number += 1
            yield raw


def _decoded_lines(path):
    """Yields (line_number, line) decoded as UTF-8; bad bytes fail with file:line
    and the byte offset in the file (in the uncompressed text of a `.gz` file)."""
    offset = 0
    for number, raw in enumerate(_raw_lines(path), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{path}:{number}: invalid UTF-8 at byte offset "
                            f"{offset + error.start}") from None
        if number == 1 and line.startswith("\ufeff"):  # byte order mark
            line = line[1:]
        yield number, line
        offset += len(raw)


def _text_rows(path, text_mode):
    """Yields (line_number, {'text': ...}) for a plain text file."""
    lines = ((n, line.rstrip("\r\n")) for n, line in _decoded_lines(path))
    if text_mode == "line":
        for number, line in lines:
            if line.strip():
                yield number, {"text": line}
        return
    paragraph, start = [], 0
    for number, line in lines:
        if line.strip():
            start = start or number
            paragraph.append(line)
        elif paragraph:
            yield start, {"text": "\n".join(paragraph)}
            paragraph, start = [], 0
    if paragraph:
        yield start, {"text": "\n".join(paragraph)}


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


def _aligned_rows(source, fields):
    """Yields (line_number, {field: line}) from line-aligned plain text files."""
    paths = source.split(ALIGNED)
    counts = []
    for path in paths:
        counts.append(sum(1 for _ in _raw_lines(path)))
    if len(set(counts)) > 1:
        raise DataError("aligned files differ in line count: " + ", ".join(
            f"{path} has {count}" for path, count in zip(paths, counts)))
    readers = [_decoded_lines(path) for path in paths]
    for lines in zip(*readers):
        number = lines[0][0]
        values = [line.rstrip("\r\n") for _, line in lines]
        empty = [path for path, value in zip(paths, values) if not value.strip()]
        if len(empty) == len(values):
            continue
        if empty:
            raise DataError(f"{empty[0]}:{number}: empty line where "
                            f"{', '.join(p for p in paths if p not in empty)} has text")
        yield number, dict(zip(fields, values))


def _jsonl_rows(path):
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        except ValueError as error:  # e.g. an integer of more than 4300 digits
            raise DataError(f"{path}:{number}: not valid JSON "
                            f"({str(error).split(':')[0]})") from None
        except RecursionError:
            raise DataError(f"{path}:{number}: not valid JSON (nested too deeply)") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got "
                            f"{type(row).__name__}")
        yield number, row


def _delimited_rows(path, delimiter):
    lines = (line for _, line in _decoded_lines(path))
    try:
        reader = csv.reader(lines, delimiter=delimiter,
                            quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next((r for r in reader if any(c.strip() for c in r)), None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for row in reader:
            number = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{number}: expected {len(header)} columns "
                                f"({', '.join(header)}), found {len(row)}")
            yield number, dict(zip(header, row))
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: {error}") from None


def _json_value(path, number, field, value, numbers):
    """A JSON field value as text: strings as they are, numbers (for the fields in
    `numbers`) as their JSON text; anything else fails naming file, line and field."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(f"{path}:{number}: field '{field}' holds an unpaired "
                            "surrogate (\\ud800-\\udfff escape)") from None
        return value
    kind = _JSON_KINDS.get(type(value), type(value).__name__)
    if kind == "number" and field in numbers:
        return json.dumps(value)
    expected = "a string or a number" if field in numbers else "a string"
    raise DataError(f"{path}:{number}: field '{field}' must be {expected}, got a JSON "
                    f"{kind}")


def _compression(path):
    return "GZIP" if fileio.is_gzip(path) else ""


def _tfrecord_rows(path, fields, named=None):
    """Yields (record_number, {field: str}) from a TFRecord file of tf.Example: each
    field one UTF-8 bytes value, as the training pipeline parses them; `named`
    ({field: feature}) renames features."""
    import tensorflow as tf  # (here: reading text files, as zoo-vocab does, needs no TensorFlow)
    from google.protobuf.message import DecodeError
    named = named or {}
    iterator = tf.compat.v1.io.tf_record_iterator  # a plain generator, record by record
    records = getattr(iterator, "__wrapped__", iterator)(  # (without its deprecation log)
        path, tf.io.TFRecordOptions(_compression(path)))
    number = 0
    while True:
        number += 1
        try:
            record = next(records)
        except StopIteration:
            return
        except tf.errors.OpError as error:
            damage = re.search(r"(truncated|corrupted) record at (\d+)", error.message)
            cause = (f"{damage[1]} record at byte offset {damage[2]}" if damage
                     else error.message.strip().splitlines()[0])
            raise DataError(f"{path}:{number}: not a readable TFRecord ({cause})") from None
        try:
            example = tf.train.Example.FromString(record)
        except (DecodeError, RuntimeWarning, ValueError):
            raise DataError(f"{path}:{number}: the record is not a tf.Example") from None
        features = example.features.feature
        values = {}
        for field in fields:
            name = named.get(field, field)
            if name not in features:
                feature_name = f"'{shown(name)}' (--columns {field}={shown(name)})" \
                    if field in named else f"'{field}'"
                raise DataError(f"{path}:{number}: no feature {feature_name} (features: "
                                f"{shown(', '.join(sorted(features))) or 'none'})")
            feature = features[name]
            kind = feature.WhichOneof("kind")
            items = getattr(feature, kind).value if kind else ()
            if kind != "bytes_list" or len(items) != 1:
                raise DataError(f"{path}:{number}: feature '{field}' must hold one bytes "
                                f"value, got {len(items)} in {kind or 'no list'}")
            try:
                values[field] = items[0].decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(f"{path}:{number}: feature '{field}' is not valid UTF-8 "
                                f"(byte {error.start})") from None
        yield number, values


def iter_rows(path, fields, text_mode="line", numbers=NUMBER_FIELDS, columns=None):
    """Yields (line_number, {field: str}) for one file of any format (for TFRecord
    files the record number). In JSONL the fields of `numbers` may hold numbers;
    every other value must be a string. `columns` ({field: column} or the
    `--columns` string) names the column of a field in TSV/CSV/JSONL/TFRecord."""
    named = parse_columns(columns)
    fmt = file_format(path)
    if fmt == "aligned":
        yield from _aligned_rows(path, fields)
        return
    if fmt == "tfrecord":
        yield from _tfrecord_rows(path, fields, named)
        return
    if fmt == "text":
        if tuple(fields) != ("text",):
            raise DataError(f"{path}: plain text files hold one field ('text'); this "
                            f"task reads {', '.join(fields)}: use .tsv, .csv or .jsonl, or "
                            "one aligned text file per field")
        rows = _text_rows(path, text_mode)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path)
    else:
        rows = _delimited_rows(path, "\t" if fmt == "tsv" else ",")
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
            values = {f: _json_value(path, number, f, v, numbers) for f, v in values.items()}
        yield number, values


def check_filled(path, line, row, required, texts=()):
    """Fails naming file and line when a field of `required` is empty or only
    whitespace (`texts`: fields whose emptiness is a zero-length example)."""
    for field in required:
        if not row[field].strip():
            cause = " (a zero-length example)" if field in texts else ""
            raise DataError(f"{path}:{line}: field '{field}' is empty{cause}")


def _tfrecord_dataset(paths, fields, named=None):
    import tensorflow as tf
    named = named or {}
    spec = {named.get(f, f): tf.io.FixedLenFeature([], tf.string) for f in fields}
    kinds = {_compression(p) for p in paths}
    if len(kinds) == 1:
        records = tf.data.TFRecordDataset(paths, kinds.pop())
    else:  # gzipped and plain files mixed: one dataset per file, in order
        records = tf.data.Dataset.from_tensor_slices(list(paths)).flat_map(
            lambda path: tf.data.TFRecordDataset(path, tf.where(
                tf.strings.regex_full_match(tf.strings.lower(path), r".*\.gz"), "GZIP", "")))

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        return {f: parsed[named.get(f, f)] for f in fields}
    return records.map(parse)


def read_examples(paths, fields=("text",), text_mode="line", columns=None, parallel_files=1,
                  native=True):
    """Returns a tf.data.Dataset of {field: scalar tf.string}; `columns` as in
    `iter_rows`. The files are read by tf.data's readers in the graph
    (`zoo.data.native`), `parallel_files` at a time and interleaved, or file
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
        return _tfrecord_dataset(records, fields, named)
    if native:
        from zoo.data.native import native_examples
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
