"""SIGTERM in any phase of zoo-train stops it cleanly (exit 0, a message), leaving
a model_dir from which the same command resumes or redoes the phase.

In-process runs send the signal to their own process from inside a phase (the
job's handler is in-process); one zoo-train process gets it from outside,
timed by its output.
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from zoo.data.builtin import write_corpus
from flagrun import train


@pytest.fixture(autouse=True)
def sigterm_is_harmless_outside_the_job():
    """A SIGTERM the job does not handle would end pytest: record it instead."""
    unhandled = []
    previous = signal.signal(signal.SIGTERM, lambda *_: unhandled.append(True))
    yield unhandled
    signal.signal(signal.SIGTERM, previous)
    assert not unhandled, "a SIGTERM reached the process outside the job's handler"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return (write_corpus(str(root / "train.txt"), 200, seed=5),
            write_corpus(str(root / "eval.txt"), 24, seed=6))


def options(model_dir, data):
    return [f"--model_dir={model_dir}", f"--train_data={data[0]}", f"--eval_data={data[1]}",
            "--model=bert_nano", "--seq_len=16", "--global_batch_size=8", "--vocab_size=200",
            "--train_steps=4", "--steps_per_loop=2", "--checkpoint_every=2", "--eval_every=2",
            "--eval_steps=2", "--shuffle_buffer=50"]


def sigterm_during(monkeypatch, owner, name):
    """Makes `owner.name` send this process SIGTERM when it starts, then do its work."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)
    monkeypatch.setattr(owner, name, wrapped)


def versions(export_dir):
    return sorted(os.listdir(export_dir)) if os.path.isdir(export_dir) else []


def assert_nothing_half_written(model_dir):
    """No temporary files or directories, and every export version is complete."""
    for directory, subdirectories, files in os.walk(model_dir):
        assert not [n for n in subdirectories + files if ".tmp-" in n], directory
    export_dir = os.path.join(model_dir, "export")
    for version in versions(export_dir):
        assert version.isdigit(), version
        assert os.path.exists(os.path.join(export_dir, version, "saved_model.pb"))


def checkpoint_name(model_dir):
    return os.path.basename(tf.train.latest_checkpoint(model_dir) or "")


def test_sigterm_in_each_phase_stops_cleanly_and_the_same_command_finishes(
        tmp_path, data, monkeypatch, capsys):
    import zoo.data.tokenizers.encoders
    import zoo.evaluate.report
    import zoo.serve.export
    import zoo.train.job
    import zoo.train.steps
    model_dir = str(tmp_path / "run")
    command = options(model_dir, data)

    def run(owner=None, name=None):
        with monkeypatch.context() as patch:
            if owner is not None:
                sigterm_during(patch, owner, name)
            logs = train(*command)
        assert_nothing_half_written(model_dir)
        return logs, capsys.readouterr().out

    # The data checks: nothing is written but the (unchanged) model_dir.
    logs, out = run(zoo.train.job, "check_task_rows")
    assert logs == {"preempted": "during or after the data checks, before the vocab"}
    assert ("SIGTERM: stopped during or after the data checks, before the vocab; run the "
            "same command to resume") in out
    assert not os.path.exists(model_dir)  # (the run created it, and leaves none behind)

    # Vocab training cannot look at the signal: it finishes, the job stops after it.
    logs, out = run(zoo.data.tokenizers.encoders, "train_tokenizer")
    assert logs == {"preempted": "after the vocab, before training"}
    assert "training a wordpiece vocab" in out
    assert "SIGTERM: stopped after the vocab, before training; run the same command" in out
    assert sorted(os.listdir(model_dir)) == ["vocab.txt"]
    vocab = open(os.path.join(model_dir, "vocab.txt")).read()

    # The evaluation at step 2 finishes, then a checkpoint is saved and training stops.
    logs, out = run(zoo.train.steps.TaskRunner, "eval_begin")
    assert logs == {"preempted": 2}
    assert "training a" not in out and "eval step 2 |" in out
    assert f"SIGTERM: saved {model_dir}/ckpt-2; run the same command to resume" in out
    assert checkpoint_name(model_dir) == "ckpt-2"
    assert open(os.path.join(model_dir, "vocab.txt")).read() == vocab

    # The report finishes; the job stops before the export.
    logs, out = run(zoo.evaluate.report, "write_report")
    assert logs["preempted"] == "after training, before the export" and "eval" in logs
    assert "resumed from" in out and "at step 2" in out and "report: " in out
    assert "SIGTERM: stopped after training, before the export; run the same command to " \
           "export" in out
    assert checkpoint_name(model_dir) == "ckpt-4"
    assert versions(os.path.join(model_dir, "export")) == []

    # The export finishes (it is written under a temporary name, then renamed).
    logs, out = run(zoo.serve.export, "export_model")
    assert "nothing to do" in out and "report: " not in out
    assert "SIGTERM: arrived during the export, which finished first" in out
    assert versions(os.path.join(model_dir, "export")) == ["1"]

    logs, out = run()
    assert "nothing to do" in out and "export: unchanged" in out
    assert versions(os.path.join(model_dir, "export")) == ["1"]


def zoo_train_command():
    installed = os.path.join(os.path.dirname(sys.executable), "zoo-train")
    return [installed] if os.path.exists(installed) else [sys.executable, "-m", "zoo.cli.train"]


def test_sigterm_from_outside_before_training_exits_zero(tmp_path, data, capsys):
    """zoo-train gets SIGTERM once it says it trains the vocab: it exits 0 before
    training, and the same command then trains and exports."""
    model_dir = str(tmp_path / "run")
    command = options(model_dir, data)
    process = subprocess.Popen(zoo_train_command() + command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines, deadline = [], time.time() + 600
    for line in process.stdout:
        lines.append(line)
        if line.startswith("training a wordpiece vocab"):
            process.send_signal(signal.SIGTERM)
            break
        assert time.time() < deadline, "".join(lines)
    out = "".join(lines) + process.communicate(timeout=600)[0]
    assert process.returncode == 0, out
    assert "SIGTERM: stopped" in out and "run the same command to resume" in out
    assert checkpoint_name(model_dir) == ""
    assert_nothing_half_written(model_dir)

    logs = train(*command)
    assert logs["train"] and "preempted" not in logs
    assert checkpoint_name(model_dir) == "ckpt-4"
    assert versions(os.path.join(model_dir, "export")) == ["1"]
    assert_nothing_half_written(model_dir)


# -- SIGTERM inside a host loop ----------------------------------------------------

LOOP = ["--model=bert_nano", "--seq_len=16", "--global_batch_size=4", "--vocab_size=200",
        "--train_steps=100", "--steps_per_loop=50", "--checkpoint_every=50", "--noexport",
        "--shuffle_buffer=50", "--seed=3"]  # (dropout on: its random state resumes too)


def checkpoint_tensors(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith("_")}


def test_sigterm_inside_a_50_step_host_loop_saves_after_one_step_and_resumes_exactly(
        tmp_path, data, monkeypatch, capsys, caplog):
    """SIGTERM arrives at step 55 or later, inside the host loop of steps 51-100:
    the run saves within a few steps of it (it waited for step 100 before), warns that
    a step plus a save exceed --grace_period, and the same command then ends with
    the weights of an uninterrupted run, bit for bit."""
    import threading
    import numpy as np
    import zoo.train.steps
    straight = str(tmp_path / "straight")
    train(f"--model_dir={straight}", f"--train_data={data[0]}", *LOOP)
    model_dir = str(tmp_path / "run")
    command = [f"--model_dir={model_dir}", f"--train_data={data[0]}", *LOOP]
    sent = {}
    begin = zoo.train.steps.TaskRunner.train_loop_begin

    def kill_inside_the_loop(runner):
        begin(runner)
        if int(runner.global_step.numpy()) != 50:
            return

        def watch():  # (reads the step while the in-graph loop runs)
            while int(runner.global_step.numpy()) < 55:
                time.sleep(0.001)
            sent["step"], sent["time"] = int(runner.global_step.numpy()), time.time()
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch, daemon=True).start()
    monkeypatch.setattr(zoo.train.steps.TaskRunner, "train_loop_begin", kill_inside_the_loop)
    capsys.readouterr()
    logs = train(*command, "--grace_period=0.001")
    seconds = time.time() - sent["time"]
    out = capsys.readouterr().out
    stopped = logs["preempted"]
    # (a step of this model takes milliseconds: the signal's way to the loop, a few)
    assert sent["step"] <= stopped <= sent["step"] + 10 and stopped < 100, (sent, stopped)
    assert f"SIGTERM: saved {model_dir}/ckpt-{stopped}; run the same command" in out
    assert checkpoint_name(model_dir) == f"ckpt-{stopped}"
    assert seconds < 10, seconds
    assert not [r for r in caplog.records if "did not update" in r.getMessage()]  # (orbit's)
    assert "warning: one training step (" in out and \
        "more than --grace_period=0.001s: a preemption may kill the job before it saves" in out

    monkeypatch.undo()
    train(*command)
    assert f"resumed from {model_dir}/ckpt-{stopped} at step {stopped}" in capsys.readouterr().out
    a, b = checkpoint_tensors(straight), checkpoint_tensors(model_dir)
    assert a.keys() == b.keys() and len(a) > 50
    for name in a:
        if not name.startswith(("input/", "save_counter/")):  # (one save more)
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
