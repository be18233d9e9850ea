"""Precomputed teacher logits for the `distill` task, kept in a TFRecord file.

With `--task_config=teacher=runs/t,teacher_logits=runs/t/logits.tfrecord` the
teacher runs once over the distinct training texts before training and the
file is written (atomically); later runs with the same teacher checkpoint and
training data read it instead, so a student trains at its own speed. The
first record names the teacher checkpoint and label set; each further record
holds one text (`key`; pairs join text and text_b with U+001F) and its
`logits`. A training row missing from the file, or a file made from another
checkpoint, fails before training. Texts the file lacks (the eval data) are
scored by the teacher on the fly.

Example:
    >>> write_teacher_logits("logits.tfrecord", teacher, rows, pair=False,
    ...                      checkpoint="runs/t/ckpt-600")
    >>> table = TeacherLogitsTable(*read_teacher_logits("logits.tfrecord",
    ...                            "runs/t/ckpt-600", "0|1"))
    >>> index, logits = table.lookup(row_keys({"text": tf.constant(["a fine film"])}))
"""
import functools

import numpy as np
import tensorflow as tf

from zoo.data.formats.readers import DataError
from zoo.atomic_files import atomic_path
from zoo.fileio import getmtime_ns

PAIR_SEPARATOR = "\x1f"


def row_key(row):
    """The key of a host-side row {field: str}."""
    return row["text"] + PAIR_SEPARATOR + row["text_b"] if "text_b" in row else row["text"]


def row_keys(examples):
    """The keys of a batch of raw examples {field: tf.string}, as `row_key`."""
    if "text_b" in examples:
        return tf.strings.join([examples["text"], examples["text_b"]], PAIR_SEPARATOR)
    return examples["text"]


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def _header(checkpoint, labels, count):
    return tf.train.Example(features=tf.train.Features(feature={
        "teacher_checkpoint": _bytes(checkpoint), "labels": _bytes(labels),
        "count": tf.train.Feature(int64_list=tf.train.Int64List(value=[count]))}))


def write_teacher_logits(path, teacher, rows, checkpoint, labels, batch_size=256):
    """Scores the distinct texts of `rows` ((path, line, {field: str})) with the
    assembled `teacher` run and writes them to `path`; returns their count."""
    distinct = {}
    for _, _, row in rows:
        distinct.setdefault(row_key(row), row)
    # Similar lengths share a batch, so little padding is computed.
    texts = sorted(distinct.values(), key=lambda row: len(row_key(row)))
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        writer.write(_header(checkpoint, labels, len(texts)).SerializeToString())
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            examples = {field: tf.constant([row[field] for row in batch])
                        for field in batch[0] if field in ("text", "text_b")}
            logits = teacher.model(teacher.task.encode(examples), training=False)
            for row, values in zip(batch, tf.cast(logits, tf.float32).numpy()):
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "key": _bytes(row_key(row)),
                    "logits": tf.train.Feature(float_list=tf.train.FloatList(value=values)),
                })).SerializeToString())
    return len(texts)


def read_teacher_logits(path, checkpoint, labels):
    """(keys, logits [n, classes]) from `path`; fails if it was computed from
    another teacher checkpoint or label set. A run reads the file once (its data
    check and its input pipeline share the result) unless the file changes."""
    return _read(path, getmtime_ns(path), checkpoint, labels)


@functools.lru_cache(maxsize=2)
def _read(path, mtime_ns, checkpoint, labels):
    records = iter(tf.data.TFRecordDataset(path))
    header = tf.train.Example.FromString(next(records).numpy()).features.feature
    made_from = header["teacher_checkpoint"].bytes_list.value[0].decode("utf-8")
    made_labels = header["labels"].bytes_list.value[0].decode("utf-8")
    if made_from != checkpoint or made_labels != labels:
        raise DataError(f"teacher_logits '{path}' was computed from {made_from} (labels "
                        f"{made_labels}), but the teacher is now {checkpoint} (labels "
                        f"{labels}); delete the file to compute it again")
    keys, logits = [], []
    for record in records:
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        keys.append(feature["key"].bytes_list.value[0].decode("utf-8"))
        logits.append(list(feature["logits"].float_list.value))
    expected = header["count"].int64_list.value[0]
    if len(keys) != expected:
        raise DataError(f"teacher_logits '{path}' holds {len(keys)} of the {expected} texts "
                        "its header announces; delete the file to compute it again")
    return tuple(keys), (np.asarray(logits, np.float32) if keys else
                         np.zeros((0, 0), np.float32))


def check_rows_covered(path, keys, rows):
    """Fails naming file and line for the first training row `keys` lacks."""
    known = set(keys)
    for file, line, row in rows:
        if row_key(row) not in known:
            raise DataError(f"{file}:{line}: this row is not in teacher_logits '{path}' "
                            "(it was computed for other training data); delete the file "
                            "to compute it again")


class TeacherLogitsTable:
    """Looks up precomputed logits by text inside `tf.data` or `tf.function`."""

    def __init__(self, keys, logits):
        self._table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, tf.string), tf.range(len(keys), dtype=tf.int64)), -1)
        self._logits = tf.constant(logits, tf.float32)

    def lookup(self, keys):
        """(index, logits) per key; index -1 (and row 0's logits) where unknown."""
        index = self._table.lookup(keys)
        return index, tf.gather(self._logits, tf.maximum(index, 0))
