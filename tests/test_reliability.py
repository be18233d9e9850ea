"""Resume is bit-exact, SIGTERM checkpoints and exits 0, a NaN loss stops cleanly."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.data.builtin import write_corpus
from zoo.training import train_from_flags

FLAGS = flags.FLAGS
NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=8", "--vocab_size=300",
        "--steps_per_loop=5", "--checkpoint_every=5", "--noexport", "--shuffle_buffer=50",
        "--seed=3"]  # dropout on: its random state must resume too


def train(*args):
    FLAGS.unparse_flags()
    FLAGS(["zoo-train", *args])
    return train_from_flags(FLAGS)


def weights(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.startswith("optimizer/")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("data") / "c.txt"), 300, seed=5)


def start(model_dir, corpus, steps):
    command = [sys.executable, "-m", "zoo.cli.train", f"--model_dir={model_dir}",
               f"--train_data={corpus}", f"--train_steps={steps}", *NANO]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_log_lines(model_dir, count, process, timeout=300):
    log = os.path.join(model_dir, "train_log.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(log) and len(open(log).read().splitlines()) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {count} log lines: {process.communicate()[0]}")


def test_run_killed_mid_way_resumes_bit_identical(tmp_path, corpus):
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    train(f"--model_dir={straight}", f"--train_data={corpus}", "--train_steps=30", *NANO)
    process = start(killed, corpus, 30)
    wait_for_log_lines(killed, 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 5 <= int(tf.train.latest_checkpoint(killed).rsplit("-", 1)[1]) < 30
    out = subprocess.run(start(killed, corpus, 30).args, capture_output=True, text=True).stdout
    assert "resumed from" in out
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys() and len(a) > 50  # model weights, slots, iterations
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_sigterm_saves_a_checkpoint_and_exits_zero(tmp_path, corpus):
    model_dir = str(tmp_path / "run")
    command = [sys.executable, "-m", "zoo.cli.train", f"--model_dir={model_dir}",
               f"--train_data={corpus}", "--train_steps=100000", *NANO]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    log = os.path.join(model_dir, "train_log.jsonl")
    deadline = time.time() + 300
    while not os.path.exists(log) and time.time() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    assert "SIGTERM: saved" in out
    step = json.loads(open(log).read().splitlines()[-1])["step"]
    assert tf.train.latest_checkpoint(model_dir).endswith(f"ckpt-{step}")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus):
    model_dir = str(tmp_path / "nan")
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=5", *NANO)
    from zoo.loop import NonFiniteLossError
    with pytest.raises(NonFiniteLossError, match=r"^the loss is nan in steps 6-10; training "
                                                 r"stopped\. The last good checkpoint is kept: "
                                                 rf"{model_dir}/ckpt-5$"):
        train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=10",
              "--learning_rate=1e30", "--clip_norm=0", *NANO)
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-5")
