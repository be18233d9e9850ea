"""The training input's position lives in the checkpoint: an iterator restored at
batch k gives the batches an uninterrupted one gives from k, for every format tf.data
reads natively (and files read several at a time); the formats that need Python's
reader are named, since their runs resume by skipping instead."""
import gzip
import json

import numpy as np
import pytest
import tensorflow as tf

from tasks.classification import Classification, ClassificationConfig
from tasks.mlm import MaskedLM, MlmConfig
from zoo.data.builtin import generate_lines
from zoo.data.formats.native import reads_natively
from zoo.data.pipeline.stream import training_dataset
from zoo.data.tokenizers.wordpiece import WordPieceEncoder, train_wordpiece_vocab


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    train_wordpiece_vocab(tf.data.Dataset.from_tensor_slices(generate_lines(200, seed=1)),
                          120, path)
    return WordPieceEncoder(path, seq_len=16)


def _write(path, lines, gz=False):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def _files(tmp_path, fmt):
    """Two files of one format, the second a different length."""
    paths = []
    for index, count in enumerate((30, 23)):
        lines = generate_lines(count, seed=10 + index)
        if fmt == "tsv":
            rows = ["text\tlabel"] + [f"{line}\t{i % 2}" for i, line in enumerate(lines)]
        elif fmt == "jsonl":
            rows = [json.dumps({"label": i % 2, "text": line}) for i, line in enumerate(lines)]
        else:
            rows = lines
        name = tmp_path / f"part{index}.{fmt.replace('.gz', '')}"
        paths.append(_write(name.with_name(name.name + (".gz" if fmt.endswith(".gz") else "")),
                            rows, gz=fmt.endswith(".gz")))
    return paths


@pytest.mark.parametrize("fmt,batching", [("txt", "plain"), ("txt.gz", "plain"),
                                          ("tsv", "bucket"), ("jsonl", "plain")])
def test_a_restored_iterator_continues_the_stream(encoder, tmp_path, fmt, batching):
    paths = _files(tmp_path, fmt)
    assert reads_natively(paths, ("text", "label") if fmt in ("tsv", "jsonl") else ("text",))
    if fmt in ("tsv", "jsonl"):
        task = Classification(ClassificationConfig(labels="0|1"), encoder)
    else:
        task = MaskedLM(MlmConfig(), encoder)  # packed windows: a scan's leftover state
    dataset = training_dataset(paths, task, 4, seed=3, shuffle_buffer=20, batching=batching)
    straight = iter(dataset)
    first = [next(straight) for _ in range(7)]
    saved = tf.train.Checkpoint(input=straight).save(str(tmp_path / "ckpt"))
    expected = [next(straight) for _ in range(12)]  # past an epoch of both files
    resumed = iter(training_dataset(paths, task, 4, seed=3, shuffle_buffer=20,
                                    batching=batching))
    tf.train.Checkpoint(input=resumed).restore(saved).assert_consumed()
    for want, got in zip(expected, (next(resumed) for _ in range(12))):
        tf.nest.map_structure(np.testing.assert_array_equal, want, got)
    # What was restored is the position after batch 7: a fresh iterator gives the
    # seven batches before it again, and they are not the ones that followed.
    fresh = iter(training_dataset(paths, task, 4, seed=3, shuffle_buffer=20,
                                  batching=batching))
    for want, got in zip(first, (next(fresh) for _ in range(7))):
        tf.nest.map_structure(np.testing.assert_array_equal, want, got)
    flat = [tf.nest.flatten(batch) for batch in (first[0], expected[0])]
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(*flat))


def test_files_python_reads_are_named(tmp_path):
    quoted = _write(tmp_path / "q.csv", ["text,label", '"a, b",1'])
    plain = _write(tmp_path / "p.csv", ["text,label", "a b,1"])
    carriage = tmp_path / "r.txt"
    carriage.write_bytes(b"one\rtwo\nthree\r\n")
    windows = tmp_path / "w.txt"
    windows.write_bytes(b"one\r\ntwo\r\r\n")
    assert not reads_natively([quoted], ("text", "label"))
    assert reads_natively([plain], ("text", "label"))
    assert not reads_natively([str(carriage)])
    assert reads_natively([str(windows)])
