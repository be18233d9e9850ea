"""Input shards (zoo.data.pipeline.sharding): a worker reads only its shards' files (or
its share of the examples when there are fewer files than shards), and the
workers' batches, in worker order, are what one worker reading every shard
gives, so the stream does not depend on how many workers read it."""
import numpy as np
import pytest
import tensorflow as tf

from tasks.classification import Classification, ClassificationConfig
from zoo.data.builtin import generate_lines
from zoo.data.pipeline.stream import training_dataset
from zoo.data.pipeline.sharding import concatenated_rows, shard_files, shards_of_worker
from zoo.data.tokenizers.wordpiece import WordPieceEncoder, train_wordpiece_vocab

BATCH = 8


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    train_wordpiece_vocab(tf.data.Dataset.from_tensor_slices(generate_lines(200, seed=1)),
                          120, path)
    return Classification(ClassificationConfig(labels="0|1|2|3"),
                          WordPieceEncoder(path, seq_len=16))


def _tsv_files(tmp_path, count, rows=(13, 9, 11, 7)):
    """`count` TSV files; every row of file k has label k."""
    paths = []
    for k in range(count):
        lines = generate_lines(rows[k], seed=20 + k)
        path = tmp_path / f"part{k}.tsv"
        path.write_text("text\tlabel\n" + "".join(f"{line}\t{k}\n" for line in lines))
        paths.append(str(path))
    return paths


def _batches(paths, task, count, **kwargs):
    iterator = iter(training_dataset(paths, task, BATCH, seed=4, shuffle_buffer=5, **kwargs))
    return [next(iterator) for _ in range(count)]


def test_each_worker_reads_only_its_files(task, tmp_path):
    paths = _tsv_files(tmp_path, 4)
    for worker, files in ((0, {0, 2}), (1, {1, 3})):
        batches = _batches(paths, task, 12, input_shards=2, worker=worker, workers=2)
        labels = np.concatenate([labels.numpy() for _, labels, _ in batches])
        assert labels.shape == (12 * BATCH // 2,)  # its half of each global batch
        assert set(labels) == files  # ...of its own files, past an epoch of both


def test_workers_batches_make_up_the_one_worker_stream(task, tmp_path):
    paths = _tsv_files(tmp_path, 4)
    whole = _batches(paths, task, 6, input_shards=2)
    parts = [_batches(paths, task, 6, input_shards=2, worker=w, workers=2) for w in (0, 1)]
    for index, batch in enumerate(whole):
        joined = concatenated_rows(parts[0][index], parts[1][index])
        tf.nest.map_structure(np.testing.assert_array_equal, batch, joined)
    # One shard is the stream as it was before sharding; two shards are another.
    unsharded = _batches(paths, task, 6)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(unsharded, whole))


def test_fewer_files_than_shards_split_the_examples(task, tmp_path):
    path = tmp_path / "one.tsv"  # row i has label i % 4
    path.write_text("text\tlabel\n" + "".join(
        f"{line}\t{i % 4}\n" for i, line in enumerate(generate_lines(40, seed=3))))
    for worker, labels in ((0, {0, 2}), (1, {1, 3})):  # every other example each
        batches = _batches([str(path)], task, 12, input_shards=2, worker=worker, workers=2)
        assert set(np.concatenate([b[1].numpy() for b in batches])) == labels


def test_shard_assignment():
    assert shard_files(list("abcde"), 2, 0) == (["a", "c", "e"], False)
    assert shard_files(list("abcde"), 2, 1) == (["b", "d"], False)
    assert shard_files(["a"], 3, 2) == (["a"], True)
    assert list(shards_of_worker(6, 2, 3)) == [4, 5]
    with pytest.raises(ValueError, match="3 input shards cannot be split evenly among 2"):
        shards_of_worker(3, 0, 2)


def test_pretraining_checks_only_a_workers_own_files(tmp_path):
    from plugins import load_plugins
    from zoo.data.formats.columns import DataError
    from zoo.data.pipeline.sharding import worker_files
    from zoo.run_config import RunConfig
    from zoo.train.preparation import check_task_rows
    load_plugins()  # the built-in tasks
    good, bad = tmp_path / "a.txt", tmp_path / "b.txt"
    good.write_text("one line\nanother line\n")
    bad.write_bytes(b"fine\nnot \xff utf-8\n")
    paths = [str(good), str(bad)]
    config = RunConfig(model="bert_nano", family="encoder", model_config={}, task="mlm",
                       task_config={}, seq_len=16)
    assert worker_files(paths, 2, 0, 2) == [str(good)]
    check_task_rows(config, paths, [], own_train_paths=worker_files(paths, 2, 0, 2))
    with pytest.raises(DataError, match=f"^{bad}:2: "):
        check_task_rows(config, paths, [], own_train_paths=worker_files(paths, 2, 1, 2))
