"""MirroredStrategy over 2 logical CPUs trains exactly like one device.

Each run is a subprocess, since the CPU must be split before TensorFlow runs
any op. Dropout is off: with it on, replicas draw different masks.
"""
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from zoo.data import builtin

STEPS = 8


def run_zoo_train(model_dir, data, *args):
    command = [sys.executable, "-m", "zoo.cli.train", f"--model_dir={model_dir}",
               f"--train_data={data}", "--model=bert_nano", "--seq_len=64",
               "--global_batch_size=16", f"--train_steps={STEPS}", "--steps_per_loop=1",
               "--model_overrides=dropout=0", "--vocab_size=400", "--noexport",
               "--learning_rate=1e-3", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def losses(model_dir):
    with open(os.path.join(model_dir, "train_log.jsonl")) as handle:
        return [json.loads(line)["loss"] for line in handle]


def checkpoint_arrays(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("optimizer/_trainable_variables/")}  # the model's weights


def test_mirrored_two_replicas_equals_one_device(tmp_path):
    data = builtin.write_corpus(str(tmp_path / "corpus.txt"), 600, seed=3)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    run_zoo_train(one, data, "--strategy=one_device")
    out = run_zoo_train(two, data, "--strategy=mirrored", "--cpu_replicas=2")
    assert "2 replica(s) (MirroredStrategy)" in out
    one_losses, two_losses = losses(one), losses(two)
    assert len(one_losses) == len(two_losses) == STEPS
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5)
    assert one_losses[-1] < one_losses[0]
    weights_one, weights_two = checkpoint_arrays(one), checkpoint_arrays(two)
    assert weights_one.keys() == weights_two.keys() and len(weights_one) > 10
    for name, value in weights_one.items():
        np.testing.assert_allclose(weights_two[name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)
