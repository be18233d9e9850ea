"""The distill task: loss against a numpy hand computation; precomputed teacher logits; a
stale logits file is refused."""
import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from tasks.distill import distillation_loss_sums
from zoo.cli import train as train_cli
from flagrun import train

FLAGS = train_cli.flags.FLAGS  # with the zoo-train flags defined
NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=16", "--steps_per_loop=10",
        "--vocab_size=300", "--learning_rate=2e-3"]


def numpy_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_distillation_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(6, 3)) * 3, rng.normal(size=(6, 3)) * 3
    labels, weights = rng.integers(0, 3, 6), np.array([1, 1, 1, 1, 0, 1], np.float32)
    t, alpha = 2.0, 0.3
    p_t = np.exp(numpy_log_softmax(teacher / t))
    kl = (p_t * (np.log(p_t) - numpy_log_softmax(student / t))).sum(-1)
    ce = -numpy_log_softmax(student)[np.arange(6), labels]
    expected = (alpha * t * t * (kl * weights).sum() + (1 - alpha) * (ce * weights).sum()) \
        / weights.sum()
    terms = distillation_loss_sums(tf.constant(labels), tf.constant(teacher, tf.float32),
                                   tf.constant(student, tf.float32), tf.constant(weights), t,
                                   alpha)
    total = sum(float(s) / float(w) for s, w in terms.values())
    np.testing.assert_allclose(total, expected, rtol=1e-5)
    # a student equal to the teacher has no soft loss
    same = distillation_loss_sums(tf.constant(labels), tf.constant(teacher, tf.float32),
                                  tf.constant(teacher, tf.float32), tf.constant(weights), t, 1.0)
    assert abs(float(same["soft"][0])) < 1e-5 and float(same["hard"][0]) == 0.0


def write_cue_data(path, rows=400, seed=0):
    """Sentences whose label is given away by one cue word."""
    rng = random.Random(seed)
    cue = {"1": ["sunny", "kind", "sweet"], "0": ["grim", "cold", "sour"]}
    lines = ["sentence\tlabel"]
    for _ in range(rows):
        label = rng.choice("01")
        words = rng.sample(["one", "day", "we", "saw", "an", "old", "house", "by", "sea"], 4)
        lines.append(" ".join(words + [rng.choice(cue[label])]) + f"\t{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """(training data, the model_dir of a bert_nano classifier trained on it), shared by
    the tests of this module."""
    root = tmp_path_factory.mktemp("teacher")
    data = write_cue_data(root / "train.tsv")
    train(f"--model_dir={root / 'run'}", "--task=classification", f"--train_data={data}",
          "--train_steps=40", "--noexport", *NANO)
    return data, str(root / "run")


def test_precomputed_teacher_logits_are_written_once_then_read(teacher, tmp_path, capsys):
    """(Training the distill task to a falling loss and its export are the conformance
    kit's distill case.)"""
    from tasks.distill import load_teacher, teacher_checkpoint
    from tasks.teacher_logits import read_teacher_logits
    from zoo.run_config import load_run_config
    data, teacher = teacher
    logits_file = str(tmp_path / "logits.tfrecord")
    student = ["--task=distill", f"--train_data={data}", "--train_steps=20", "--noexport", "--model_overrides=num_layers=1", *NANO]
    on_the_fly = train(f"--model_dir={tmp_path}/fly",
                       f"--task_config=teacher={teacher}", *student)
    logged = [json.loads(line) for line in open(f"{tmp_path}/fly/train_log.jsonl")]
    assert {"soft", "hard"} <= set(logged[0])
    assert load_run_config(f"{tmp_path}/fly").task_config["labels"] == "0|1"
    capsys.readouterr()
    first = train(f"--model_dir={tmp_path}/first",
                  f"--task_config=teacher={teacher},teacher_logits={logits_file}", *student)
    texts = sorted({line.split("\t")[0] for line in data.read_text().splitlines()[1:]})
    assert f"teacher logits: {len(texts)} texts scored by" in capsys.readouterr().out
    second = train(f"--model_dir={tmp_path}/second",
                   f"--task_config=teacher={teacher},teacher_logits={logits_file}", *student)
    assert f"teacher logits: {len(texts)} texts read from {logits_file}" in \
        capsys.readouterr().out
    # The file holds the teacher's own logits, and training on them is training
    # on the teacher run on the fly (same batches, same loss terms).
    keys, logits = read_teacher_logits(logits_file, teacher_checkpoint(teacher), "0|1")
    assert sorted(keys) == texts and logits.shape == (len(texts), 2)
    run = load_teacher(teacher)
    expected = run.model(run.task.encode({"text": tf.constant(keys[:8])}), training=False)
    np.testing.assert_allclose(logits[:8], expected, rtol=1e-4, atol=1e-5)
    for logs in (first, second):
        for name in ("loss", "soft", "hard"):
            np.testing.assert_allclose(logs["train"][name], on_the_fly["train"][name],
                                       rtol=1e-4)


def example(features):
    def feature(values):
        if isinstance(values, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[values]))
        if isinstance(values[0], str):
            return tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[v.encode("utf-8") for v in values]))
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature={
        k: feature(v) for k, v in features.items()})).SerializeToString()


def test_the_distill_task_looks_up_known_texts_and_runs_the_teacher_for_others(teacher,
                                                                                tmp_path):
    from tasks.distill import teacher_checkpoint
    from tasks.teacher_logits import row_key
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    _, teacher = teacher
    logits_file = str(tmp_path / "fake.tfrecord")
    with tf.io.TFRecordWriter(logits_file) as writer:  # known texts get fake logits
        header = {"teacher_checkpoint": [teacher_checkpoint(teacher)], "labels": ["0|1"],
                  "count": 1}
        writer.write(example(header))
        writer.write(example({"key": [row_key({"text": "we saw a sunny sea"})],
                              "logits": [7.0, -7.0]}))
    config = load_run_config(teacher)
    config.task = "distill"
    config.task_config = dict(config.task_config, teacher=teacher, teacher_logits=logits_file)
    task = assemble(config, teacher).task
    task.example_stream(None)
    known = task.teacher_logits({"text": tf.constant(["we saw a sunny sea"] * 2)})
    np.testing.assert_allclose(known, [[7.0, -7.0]] * 2)
    mixed = task.teacher_logits({"text": tf.constant(["we saw a sunny sea", "grim day"])})
    computed = task.teacher().model(task.encode({"text": tf.constant(
        ["we saw a sunny sea", "grim day"])}), training=False)
    np.testing.assert_allclose(mixed, computed, rtol=1e-5)


def test_a_stale_or_incomplete_teacher_logits_file_fails_before_training(teacher, tmp_path):
    from zoo.data.formats.readers import DataError
    data, teacher = teacher
    logits_file = tmp_path / "logits.tfrecord"
    with tf.io.TFRecordWriter(str(logits_file)) as writer:
        writer.write(example({"teacher_checkpoint": ["/elsewhere/ckpt-1"], "labels": ["0|1"],
                              "count": 0}))
    student = ["--task=distill", f"--train_data={data}", "--train_steps=5", "--noexport",
               f"--task_config=teacher={teacher},teacher_logits={logits_file}", *NANO]
    with pytest.raises(DataError, match="was computed from /elsewhere/ckpt-1 .*delete the file"):
        train(f"--model_dir={tmp_path}/a", *student)
    from tasks.distill import teacher_checkpoint
    with tf.io.TFRecordWriter(str(logits_file)) as writer:
        writer.write(example({"teacher_checkpoint": [teacher_checkpoint(teacher)],
                              "labels": ["0|1"], "count": 0}))
    with pytest.raises(DataError, match=f"{data}:2: this row is not in teacher_logits"):
        train(f"--model_dir={tmp_path}/b", *student)
    with tf.io.TFRecordWriter(str(logits_file)) as writer:  # cut short
        writer.write(example({"teacher_checkpoint": [teacher_checkpoint(teacher)],
                              "labels": ["0|1"], "count": 5}))
    with pytest.raises(DataError, match="holds 0 of the 5 texts its header announces"):
        train(f"--model_dir={tmp_path}/c", *student)
    assert not os.path.exists(f"{tmp_path}/a/checkpoint")
