"""MirroredStrategy over 2 logical CPUs trains exactly like one device, and so
does a LoRA run with gradient accumulation.

Each run is a subprocess, since the CPU must be split before TensorFlow runs
any op. Dropout is off: with it on, replicas draw different masks.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import builtin

STEPS = 8
LORA = ["--lora_rank=2", "--lora_alpha=4"]


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


def assert_same_training(one, two):
    one_losses, two_losses = losses(one), losses(two)
    assert len(one_losses) == len(two_losses) == STEPS
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5)
    assert one_losses[-1] < one_losses[0]
    weights_one, weights_two = checkpoint_arrays(one), checkpoint_arrays(two)
    assert weights_one.keys() == weights_two.keys() and len(weights_one) > 10
    for name, value in weights_one.items():
        np.testing.assert_allclose(weights_two[name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return builtin.write_corpus(str(tmp_path_factory.mktemp("data") / "corpus.txt"), 600,
                                seed=3)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory, data):
    model_dir = str(tmp_path_factory.mktemp("one") / "run")
    run_zoo_train(model_dir, data, "--strategy=one_device")
    return model_dir


def test_mirrored_two_replicas_equals_one_device(tmp_path, data, one_device):
    two = str(tmp_path / "two")
    out = run_zoo_train(two, data, "--strategy=mirrored", "--cpu_replicas=2")
    assert "2 replica(s) (MirroredStrategy)" in out
    assert_same_training(one_device, two)


@pytest.fixture(scope="module")
def one_device_lora(tmp_path_factory, data):
    model_dir = str(tmp_path_factory.mktemp("one_lora") / "run")
    run_zoo_train(model_dir, data, "--strategy=one_device", *LORA)
    return model_dir


def test_mirrored_lora_with_accumulation_equals_one_device(tmp_path, data, one_device,
                                                          one_device_lora):
    """LoRA adapters, 2 replicas x 2 micro-batches of 4: one step on 16 examples, as on
    one device; only the adapters and the head train. XLA is turned off on logical
    CPUs, with the reason; nan_policy=skip takes the cross-replica apply path."""
    two = str(tmp_path / "two")
    out = run_zoo_train(two, data, "--strategy=mirrored", "--cpu_replicas=2", *LORA,
                        "--grad_accum_steps=2", "--jit_compile", "--nan_policy=skip")
    assert "--jit_compile is off: XLA fails under MirroredStrategy on logical CPU devices" in out
    assert "lora: rank 2" in out
    assert_same_training(one_device_lora, two)
    # 8 adapters (A and B of query and value in 2 layers) and the MLM head's few
    # weights train, against every weight of the plain run
    assert 8 < len(checkpoint_arrays(two)) < len(checkpoint_arrays(one_device)) / 2
