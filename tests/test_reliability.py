"""Resume is bit-exact, SIGTERM checkpoints and exits 0, a NaN loss stops cleanly."""
import json
import math
import os
import shutil
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
from flagrun import train

FLAGS = flags.FLAGS
NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=8", "--vocab_size=300",
        "--steps_per_loop=5", "--checkpoint_every=5", "--noexport", "--shuffle_buffer=50",
        "--seed=3"]  # dropout on: its random state must resume too


def weights(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.startswith("optimizer/")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("data") / "c.txt"), 300, seed=5)


def command(model_dir, corpus, steps):
    return [sys.executable, "-m", "zoo.cli.train", f"--model_dir={model_dir}",
            f"--train_data={corpus}", f"--train_steps={steps}", *NANO]


def start(model_dir, corpus, steps):
    return subprocess.Popen(command(model_dir, corpus, steps), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_log_lines(model_dir, count, process, timeout=300):
    log = os.path.join(model_dir, "train_log.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(log) and len(open(log).read().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} log lines: {process.communicate()[0]}")


STEPS = 40


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, corpus):
    """An uninterrupted run of STEPS steps, shared by the kill points."""
    model_dir = str(tmp_path_factory.mktemp("straight") / "run")
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", f"--train_steps={STEPS}", *NANO)
    return model_dir


# Killed after the 4th progress line (step 20 of 40; a line and a checkpoint every
# 5 steps, the line first), at whatever step it has reached. (That the data order
# does not depend on where a run starts is tested without processes, in
# test_tokenizer_and_masking.)
KILL_AFTER_LINES = 4


def test_run_killed_mid_way_resumes_bit_identical(tmp_path, corpus, straight_run):
    killed = str(tmp_path / "killed")
    process = start(killed, corpus, STEPS)
    wait_for_log_lines(killed, KILL_AFTER_LINES, process)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    latest = tf.train.latest_checkpoint(killed)
    killed_at = int(latest.rsplit("-", 1)[1])
    assert 5 * (KILL_AFTER_LINES - 1) <= killed_at < STEPS
    from zoo.train.input_position import saved_position  # (resumes there, skipping nothing)
    position = saved_position(killed, killed_at, worker=0, workers=1)
    assert position
    out = subprocess.run(command(killed, corpus, STEPS), capture_output=True,
                         text=True).stdout  # (one writer: a second would be refused)
    assert f"resumed from {latest} at step {killed_at}; input " \
        f"restored from {position}" in out
    a, b = weights(straight_run), weights(killed)
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
    from zoo.train.loop import NonFiniteLossError
    with pytest.raises(NonFiniteLossError, match=r"^the loss is nan in steps 6-10; training "
                                                 r"stopped\. The last good checkpoint is kept: "
                                                 rf"{model_dir}/ckpt-5$"):
        train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=10",
              "--learning_rate=1e30", "--clip_norm=0", *NANO)
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-5")


# -- --nan_policy=skip ---------------------------------------------------------

REGRESSION = ["--task=regression", "--model=bert_nano", "--seq_len=16", "--global_batch_size=8",
              "--vocab_size=100", "--steps_per_loop=5", "--checkpoint_every=5", "--noexport",
              "--shuffle_buffer=1", "--train_steps=10"]


@pytest.fixture(scope="module")
def overflowing_targets(tmp_path_factory):
    """40 rows, in order (no shuffle): the 2nd batch of 8 of every epoch holds a target
    of 1e30, whose squared error overflows float32, so steps 2 and 7 have an Inf loss."""
    words = "the a film movie good bad great boring plot actor scene story".split()
    rows = ["text\tlabel"] + [
        f"{' '.join(words[(i * 7 + j) % len(words)] for j in range(6))}\t"
        f"{'1e30' if i == 8 else round(i / 40, 3)}" for i in range(40)]
    path = tmp_path_factory.mktemp("nan") / "targets.tsv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def checkpoint_values(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith("input/")}  # (the input position: an opaque variant)


def test_overflowing_targets_stop_training_by_default(tmp_path, overflowing_targets):
    from zoo.train.loop import NonFiniteLossError
    with pytest.raises(NonFiniteLossError) as error:
        train(f"--model_dir={tmp_path}/run", f"--train_data={overflowing_targets}", *REGRESSION)
    assert str(error.value) == ("the loss is nan in steps 1-5; training stopped. No checkpoint "
                                "was saved before it.")


def test_nan_policy_skip_applies_no_update_for_bad_steps(tmp_path, overflowing_targets, capsys):
    model_dir = str(tmp_path / "run")
    logs = train(f"--model_dir={model_dir}", f"--train_data={overflowing_targets}",
                 "--nan_policy=skip", *REGRESSION)
    out = capsys.readouterr().out
    assert ("skipped 1 step(s) with a NaN/Inf loss or gradient in steps 1-5 (1 in this run, "
            "--max_skipped_steps=10)") in out
    assert "in steps 6-10 (2 in this run, --max_skipped_steps=10)" in out
    assert math.isfinite(logs["train"]["loss"]) and logs["train"]["skipped_steps"] == 1
    values = checkpoint_values(model_dir)
    # global_step counts batches, optimizer iterations count applied updates.
    assert values["global_step/.ATTRIBUTES/VARIABLE_VALUE"] == 10
    assert values["skipped_steps/.ATTRIBUTES/VARIABLE_VALUE"] == 2
    assert values["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 8
    floats = [v for v in values.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    assert len(floats) > 50 and all(np.isfinite(v).all() for v in floats)
    log = [json.loads(line) for line in open(os.path.join(model_dir, "train_log.jsonl"))]
    assert [r["skipped_steps"] for r in log] == [1, 1]


def test_nan_policy_skip_stops_beyond_the_limit(tmp_path, overflowing_targets):
    model_dir = str(tmp_path / "run")
    from zoo.train.loop import NonFiniteLossError
    with pytest.raises(NonFiniteLossError) as error:
        train(f"--model_dir={model_dir}", f"--train_data={overflowing_targets}",
              "--nan_policy=skip", "--max_skipped_steps=1", *REGRESSION)
    assert str(error.value) == (
        "2 steps had a NaN/Inf loss or gradient, more than --max_skipped_steps=1; training "
        f"stopped at step 10. The last good checkpoint is kept: {model_dir}/ckpt-5")
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-5")


# -- resume with settings that order the training stream differently ------------

STREAM = ["--model=bert_nano", "--seq_len=16", "--global_batch_size=4", "--vocab_size=100",
          "--train_steps=2", "--noexport", "--shuffle_buffer=10"]
# (regression: a task of independent examples, which --batching=bucket may group)
LABELLED = ["--task=regression", *STREAM]


@pytest.fixture
def prepared(tmp_path, overflowing_targets, monkeypatch):
    """A model_dir as the training loop finds it (config.json and vocab written); the
    loop itself is skipped, here and in the test."""
    import zoo.train.loop
    monkeypatch.setattr(zoo.train.loop, "run_training", lambda *_: {})
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", f"--train_data={overflowing_targets}", *LABELLED)
    return model_dir


def refused_before_any_work(monkeypatch, model_dir, *args):
    """The UsageError message of resuming model_dir with `args`; reading the data,
    training a vocab or writing the built-in corpus fails the test."""
    import zoo.train.job
    from zoo.cli.common import UsageError

    def work(*_):
        raise AssertionError("work started before the refusal")
    for name in ("check_task_rows", "prepare_vocab", "write_builtin_corpus"):
        monkeypatch.setattr(zoo.train.job, name, work)
    with pytest.raises(UsageError) as error:
        train(f"--model_dir={model_dir}", *args)
    return str(error.value)


@pytest.mark.parametrize("change, difference", [
    ("--global_batch_size=8", "--global_batch_size: 4 -> 8"),
    ("--seed=1", "--seed: 0 -> 1"),
    ("--shuffle_buffer=20", "--shuffle_buffer: 10 -> 20"),
    ("--batching=bucket", "--batching: 'plain' -> 'bucket'"),
    ("--text_mode=paragraph", "--text_mode: 'line' -> 'paragraph'"),
    ("--input_shards=2", "--input_shards: 1 -> 2"),
])
def test_resume_with_another_stream_setting_is_refused(prepared, overflowing_targets,
                                                       monkeypatch, change, difference):
    message = refused_before_any_work(monkeypatch, prepared,
                                      f"--train_data={overflowing_targets}", *LABELLED, change)
    assert message == (
        f"'{prepared}' holds a run whose training stream these options would order "
        "differently; refusing to resume it (a resumed run skips the batches it already "
        f"trained on). Differences (saved -> requested): {difference}. Use the saved values "
        "or a new --model_dir.")


def test_resume_with_other_training_files_is_refused(prepared, overflowing_targets, tmp_path,
                                                     monkeypatch):
    saved = overflowing_targets
    other = str(tmp_path / "other.tsv")
    shutil.copyfile(saved, other)  # the same rows
    message = refused_before_any_work(monkeypatch, prepared, f"--train_data={other}",
                                      *LABELLED)
    assert f"Differences (saved -> requested): --train_data: {[saved]!r} -> {[other]!r}. " \
        in message
    message = refused_before_any_work(monkeypatch, prepared, f"--train_data={saved},{other}",
                                      *LABELLED, "--seed=2")
    assert f"--train_data: {[saved]!r} -> {[saved, other]!r}; --seed: 0 -> 2. " in message


def test_resume_may_change_length_schedule_and_cadence(tmp_path, monkeypatch, capsys):
    """(On the built-in corpus, which the resumed run writes anew.)"""
    import zoo.train.loop
    monkeypatch.setattr(zoo.train.loop, "run_training", lambda *_: {})
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", *STREAM)
    capsys.readouterr()
    train(f"--model_dir={model_dir}/", *STREAM, "--train_steps=9",
          "--learning_rate=1e-3", "--warmup_steps=0", "--decay=cosine", "--eval_every=1",
          "--eval_steps=1", "--checkpoint_every=1", "--steps_per_loop=1", "--keep_checkpoints=1",
          "--grad_accum_steps=2", "--clip_norm=0.5", "--weight_decay=0")
    assert "training a" not in capsys.readouterr().out  # the vocab of the first run


# -- export killed mid-write ------------------------------------------------------

def test_export_killed_mid_write_leaves_only_complete_versions(tmp_path, straight_run):
    from zoo.serve.export import export_model, latest_version_dir
    base = str(tmp_path / "serving")
    assert export_model(straight_run, base) == f"{base}/1"
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo.cli.export", f"--model_dir={straight_run}",
         f"--export_dir={base}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    temporary = []
    while time.time() < deadline and process.poll() is None:
        temporary = [n for n in os.listdir(base) if n.startswith(".2.tmp-")]
        if temporary and os.listdir(os.path.join(base, temporary[0])):
            break  # the SavedModel is being written
        time.sleep(0.01)
    assert process.poll() is None, process.communicate()[0]
    process.send_signal(signal.SIGKILL)
    process.wait()

    loaded = set()

    def check_versions(expected):
        names = sorted(os.listdir(base))
        versions = [n for n in names if n.isdigit()]
        assert versions == expected
        # The leftover is hidden and not a number: TF Serving and next_version ignore it.
        assert [n for n in names if not n.isdigit()] == temporary
        for version in sorted(set(versions) - loaded):
            loaded.add(version)
            path = os.path.join(base, version)
            assert os.path.exists(os.path.join(path, "saved_model.pb"))
            tokens = tf.saved_model.load(path).signatures["tokenize"](text=tf.constant(["a b"]))
            assert tokens["token_ids"].shape[0] == 1
        assert latest_version_dir(base) == os.path.join(base, expected[-1])

    check_versions(["1"])
    assert export_model(straight_run, base) == f"{base}/2"
    check_versions(["1", "2"])
