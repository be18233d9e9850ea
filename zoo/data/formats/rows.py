"""Row parsers, one per file format: each yields (line number, {column: text}) and
fails naming file and line. Both readers build on them: `zoo.data.formats.readers`
(Python, row by row) and `zoo.data.formats.native` (tf.data ops).

Example:
    >>> for number, row in jsonl_rows("train.jsonl"):
    ...     print(number, row["text"])
    1 a gripping film
"""
import csv
import json
import re
import zlib

from zoo import fileio
from zoo.data.formats.columns import DataError, shown

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


def raw_lines(path):
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


def decoded_lines(path):
    """Yields (line_number, line) decoded as UTF-8; bad bytes fail with file:line
    and the byte offset in the file (in the uncompressed text of a `.gz` file)."""
    offset = 0
    for number, raw in enumerate(raw_lines(path), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{path}:{number}: invalid UTF-8 at byte offset "
                            f"{offset + error.start}") from None
        if number == 1 and line.startswith("\ufeff"):  # byte order mark
            line = line[1:]
        yield number, line
        offset += len(raw)


def text_rows(path, text_mode):
    """Yields (line_number, {'text': ...}) for a plain text file."""
    lines = ((n, line.rstrip("\r\n")) for n, line in decoded_lines(path))
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


def aligned_rows(source, fields):
    """Yields (line_number, {field: line}) from line-aligned plain text files."""
    paths = source.split(ALIGNED)
    counts = []
    for path in paths:
        counts.append(sum(1 for _ in raw_lines(path)))
    if len(set(counts)) > 1:
        raise DataError("aligned files differ in line count: " + ", ".join(
            f"{path} has {count}" for path, count in zip(paths, counts)))
    readers = [decoded_lines(path) for path in paths]
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


def jsonl_rows(path):
    for number, line in decoded_lines(path):
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


def delimited_rows(path, delimiter):
    lines = (line for _, line in decoded_lines(path))
    try:
        reader = csv.reader(lines, delimiter=delimiter,
                            quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next((r for r in reader if any(c.strip() for c in r)), None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for name in header:
            if header.count(name) > 1:  # which one a field reads would be a guess
                raise DataError(f"{path}:{reader.line_num}: the header names column '{name}' "
                                f"{header.count(name)} times ({', '.join(header)}); give each "
                                "column its own name")
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


def json_value(path, number, field, value, numbers):
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


def compression(path):
    return "GZIP" if fileio.is_gzip(path) else ""


def tfrecord_rows(path, fields, named=None):
    """Yields (record_number, {field: str}) from a TFRecord file of tf.Example: each
    field one UTF-8 bytes value, as the training pipeline parses them; `named`
    ({field: feature}) renames features."""
    import tensorflow as tf  # (here: reading text files, as zoo-vocab does, needs no TensorFlow)
    from google.protobuf.message import DecodeError
    named = named or {}
    iterator = tf.compat.v1.io.tf_record_iterator  # a plain generator, record by record
    records = getattr(iterator, "__wrapped__", iterator)(  # (without its deprecation log)
        path, tf.io.TFRecordOptions(compression(path)))
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


def tfrecord_dataset(paths, fields, named=None):
    import tensorflow as tf
    named = named or {}
    spec = {named.get(f, f): tf.io.FixedLenFeature([], tf.string) for f in fields}
    kinds = {compression(p) for p in paths}
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
