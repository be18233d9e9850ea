"""The distill task: loss against a numpy hand computation; a bert_nano student trains."""
import json
import os
import random

import numpy as np
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


def test_a_distilled_nano_student_trains_and_exports(tmp_path):
    rng = random.Random(0)
    cue = {"1": ["sunny", "kind", "sweet"], "0": ["grim", "cold", "sour"]}
    lines = ["sentence\tlabel"]
    for _ in range(400):
        label = rng.choice("01")
        words = rng.sample(["one", "day", "we", "saw", "an", "old", "house", "by", "sea"], 4)
        lines.append(" ".join(words + [rng.choice(cue[label])]) + f"\t{label}")
    data = tmp_path / "train.tsv"
    data.write_text("\n".join(lines) + "\n")
    teacher = str(tmp_path / "teacher")
    train(f"--model_dir={teacher}", "--task=classification", f"--train_data={data}",
          "--train_steps=40", "--noexport", *NANO)
    student = str(tmp_path / "student")
    train(f"--model_dir={student}", "--task=distill", f"--train_data={data}",
          f"--task_config=teacher={teacher},temperature=2.0,alpha=0.5", "--train_steps=40",
          "--model_overrides=num_layers=1", *NANO)
    logged = [json.loads(line) for line in open(os.path.join(student, "train_log.jsonl"))]
    assert {"soft", "hard"} <= set(logged[0])
    assert logged[-1]["loss"] < logged[0]["loss"]
    from zoo.run_config import load_run_config
    assert load_run_config(student).task_config["labels"] == "0|1"
    served = tf.saved_model.load(os.path.join(student, "export", "1")) \
        .signatures["serving_default"](text=tf.constant(["we saw a sunny day", "grim sea"]))
    assert served["probabilities"].shape == (2, 2)
