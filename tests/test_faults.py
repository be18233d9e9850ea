"""Faults outside the happy path: a damaged newest checkpoint (four causes), a
second writer on a model_dir. (A full disk: test_full_disk.py; SIGTERM within a
host loop: test_preemption.py.)

One short bert_nano run with checkpoints at steps 2 and 4 is copied and damaged
per case.
"""
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from zoo.data.builtin import write_corpus
from flagrun import train

NANO = ["--model=bert_nano", "--seq_len=16", "--global_batch_size=4", "--vocab_size=200",
        "--steps_per_loop=2", "--checkpoint_every=2", "--noexport", "--shuffle_buffer=20",
        "--model_overrides=dropout=0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("data") / "c.txt"), 100, seed=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus):
    """A model_dir with ckpt-2 and ckpt-4."""
    model_dir = str(tmp_path_factory.mktemp("trained") / "run")
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=4", *NANO)
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-4")
    return model_dir


def copy_of(trained, tmp_path):
    model_dir = str(tmp_path / "run")
    shutil.copytree(trained, model_dir)
    return model_dir


def data_file(model_dir, step):
    return os.path.join(model_dir, f"ckpt-{step}.data-00000-of-00001")


def truncate(path):
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def empty(path):
    open(path, "w").close()


def name_a_missing_checkpoint(model_dir):
    """The state file names ckpt-6, whose files were never written."""
    state = tf.train.get_checkpoint_state(model_dir)
    tf.compat.v1.train.update_checkpoint_state(
        model_dir, os.path.join(model_dir, "ckpt-6"),
        list(state.all_model_checkpoint_paths) + [os.path.join(model_dir, "ckpt-6")])


# cause: (damage, the bad step, why (None: TF's words), the step resumed from)
DAMAGES = {
    "truncated data file": (lambda d: truncate(data_file(d, 4)), 4, None, 2),
    "missing index file": (lambda d: os.remove(os.path.join(d, "ckpt-4.index")), 4,
                           "its index file ckpt-4.index is missing", 2),
    "state names a missing checkpoint": (name_a_missing_checkpoint, 6,
                                         "it is named in the 'checkpoint' state file, but "
                                         "its files are missing", 4),
    "zero-length data file": (lambda d: empty(data_file(d, 4)), 4,
                              "ckpt-4.data-00000-of-00001 is empty (0 bytes)", 2),
}


@pytest.mark.parametrize("cause", list(DAMAGES))
def test_a_damaged_newest_checkpoint_is_set_aside(trained, tmp_path, capsys, cause):
    from zoo.train.checkpoint_repair import repair_checkpoints
    model_dir = copy_of(trained, tmp_path)
    damage, step, why, good = DAMAGES[cause]
    damage(model_dir)
    before = sorted(os.listdir(model_dir))
    good = os.path.join(model_dir, f"ckpt-{good}")
    assert repair_checkpoints(model_dir) == good
    out = capsys.readouterr().out
    bad = os.path.join(model_dir, f"ckpt-{step}")
    if why is None:  # (TF's own words for the short read)
        assert f"checkpoint {bad} cannot be restored (" in out
    else:
        assert f"checkpoint {bad} cannot be restored ({why}); " in out
    assert f"resuming from {good}, the newest checkpoint that restores" in out
    assert tf.train.latest_checkpoint(model_dir) == good
    moved = sorted(set(before) - set(os.listdir(model_dir)))
    damaged = os.path.join(model_dir, "damaged")
    assert moved == sorted(os.listdir(damaged)) if moved else not os.path.exists(damaged)
    assert all(name.startswith(f"ckpt-{step}.") for name in moved)
    assert repair_checkpoints(model_dir) == good  # (now quiet)
    assert capsys.readouterr().out == ""


def test_training_resumes_from_the_newest_good_checkpoint(trained, tmp_path, corpus, capsys):
    """The truncated newest checkpoint (ckpt-4) crashed every later run with a
    traceback: the run resumes at step 2 and trains on to the same weights."""
    model_dir = copy_of(trained, tmp_path)
    truncate(data_file(model_dir, 4))
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=4", *NANO)
    out = capsys.readouterr().out
    assert f"moved it to {model_dir}/damaged/" in out
    assert f"resumed from {model_dir}/ckpt-2 at step 2" in out
    a, b = (tf.train.load_checkpoint(tf.train.latest_checkpoint(d)) for d in (trained, model_dir))
    names = [n for n in a.get_variable_to_shape_map() if not n.startswith("_")]
    assert len(names) > 50 and sorted(names) == sorted(
        n for n in b.get_variable_to_shape_map() if not n.startswith("_"))
    for name in names:
        np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name), err_msg=name)


def test_no_checkpoint_restores_a_clear_error_and_nothing_moved(trained, tmp_path, corpus):
    from zoo.train.checkpoint_repair import CheckpointError
    model_dir = copy_of(trained, tmp_path)
    empty(data_file(model_dir, 4))
    os.remove(os.path.join(model_dir, "ckpt-2.index"))
    before = sorted(os.listdir(model_dir))
    with pytest.raises(CheckpointError) as error:
        train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=6", *NANO)
    assert str(error.value) == (
        f"no checkpoint in '{model_dir}' can be restored: ckpt-4: ckpt-4.data-00000-of-00001 "
        "is empty (0 bytes); ckpt-2: its index file ckpt-2.index is missing. They are left "
        "in place: move them away to train from scratch there, or use a new --model_dir")
    assert sorted(os.listdir(model_dir)) == before


def test_readers_skip_a_damaged_newest_checkpoint_naming_it_and_move_nothing(
        trained, tmp_path, corpus, capsys):
    """zoo-export and --mode=eval (and zoo-predict, --init_checkpoint: the same
    search) use the newest checkpoint that restores, say which they skipped and
    why, and leave the model_dir as it was; none restoring is one clear error."""
    from zoo.serve.export import export_model, exported_checkpoint
    from zoo.train.checkpoint_repair import CheckpointError
    model_dir = copy_of(trained, tmp_path)
    truncate(data_file(model_dir, 4))
    checkpoints = lambda: sorted(n for n in os.listdir(model_dir)  # noqa: E731
                                 if n.startswith(("ckpt-", "checkpoint", "damaged")))
    before = checkpoints()
    skipped = f"checkpoint {model_dir}/ckpt-4 cannot be restored ("
    export_dir = str(tmp_path / "export")
    export_model(model_dir, export_dir)
    assert skipped in capsys.readouterr().out
    assert exported_checkpoint(export_dir) == "ckpt-2"
    logs = train(f"--model_dir={model_dir}", "--mode=eval", f"--eval_data={corpus}",
                 "--eval_steps=2", *NANO)
    out = capsys.readouterr().out
    assert skipped in out and f"; using {model_dir}/ckpt-2" in out
    assert logs["eval"]["checkpoint"].endswith("/ckpt-2") and logs["eval"]["loss"] > 0
    assert checkpoints() == before
    os.remove(os.path.join(model_dir, "ckpt-2.index"))
    with pytest.raises(CheckpointError, match=f"no checkpoint in '{model_dir}' can be restored: "
                       "ckpt-4: .*; ckpt-2: its index file ckpt-2.index is missing"):
        export_model(model_dir, str(tmp_path / "export2"))


# -- one writer per model_dir ---------------------------------------------------

def hold(model_dir):
    """Another process that holds model_dir as zoo-train does (zoo.run_lock.claim)."""
    code = (f"import time\nfrom zoo.run_lock import claim\nwith claim({model_dir!r}, "
            "'zoo-train'):\n    print('held', flush=True)\n    time.sleep(300)\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


def test_the_lock_on_a_shared_file_system(monkeypatch):
    """On ram:// (TF's in-memory file system, standing in for GCS, which has no
    exclusive create): a live holder's claim is refused, a dead one's is taken
    over, and of two claimants whose renames race, the one whose record is read
    back after the settle time wins."""
    import json
    import time
    from zoo import run_lock
    from zoo.run_lock import DirectoryLocked, claim
    monkeypatch.setattr(run_lock, "SETTLE_SECONDS", 0.0)
    directory = "ram://zoo-lock-test/run"
    path = directory + "/zoo.lock"
    tf.io.gfile.makedirs(directory)

    def holder(pid):
        if tf.io.gfile.exists(path):  # (ram:// appends to a file opened with "w")
            tf.io.gfile.remove(path)
        with tf.io.gfile.GFile(path, "w") as handle:
            handle.write(json.dumps({"program": "zoo-train", "host": socket.gethostname(),
                                     "pid": pid, "started": time.time(),
                                     "heartbeat": time.time(), "id": f"rival-{pid}"}))
    live = os.getppid()
    refused = rf"'{directory}' is in use by zoo-train on host .*, pid {live} "
    holder(live)
    with pytest.raises(DirectoryLocked, match=refused):
        with claim(directory, "zoo-export"):
            pass
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder(dead.pid)
    said = []
    with claim(directory, "zoo-export", say=lambda *a, **k: said.append(a[0])):
        assert json.loads(tf.io.gfile.GFile(path).read())["program"] == "zoo-export"
    host = re.escape(socket.gethostname())
    assert len(said) == 1 and re.fullmatch(
        rf"taking over the lock of '{directory}' from zoo-train on host {host}, pid "
        rf"{dead.pid} \(since [-\d: ]+\): pid {dead.pid} no longer runs on {host}", said[0]), said
    assert not tf.io.gfile.exists(path)  # released

    rename = tf.io.gfile.rename

    def racing_rename(source, target, overwrite=False):  # a rival's copy lands after ours
        rename(source, target, overwrite)
        holder(live)
    monkeypatch.setattr(tf.io.gfile, "rename", racing_rename)
    with pytest.raises(DirectoryLocked, match=refused):
        with claim(directory, "zoo-export"):
            pass
    assert json.loads(tf.io.gfile.GFile(path).read())["id"] == f"rival-{live}"  # left alone


def test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over(trained, tmp_path, corpus,
                                                                    capsys):
    from zoo.run_lock import DirectoryLocked
    model_dir = copy_of(trained, tmp_path)
    command = [f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=4", *NANO]
    holder = hold(model_dir)
    host = socket.gethostname()
    refusal = (rf"'{re.escape(model_dir)}' is in use by zoo-train on host {re.escape(host)}, "
               rf"pid {holder.pid} \(since [-0-9: ]+\): one process writes a model_dir at a "
               rf"time\. Wait for it to end or stop it \(its lock: "
               rf"{re.escape(model_dir)}/zoo\.lock\)")
    try:
        before = sorted(os.listdir(model_dir))
        with pytest.raises(DirectoryLocked) as error:
            train(*command)
        assert re.fullmatch(refusal, str(error.value)), str(error.value)
        assert sorted(os.listdir(model_dir)) == before  # no work began
        export = subprocess.run([sys.executable, "-m", "zoo.cli.export",
                                 f"--model_dir={model_dir}"], capture_output=True, text=True)
        assert export.returncode == 2, export.stderr
        assert re.fullmatch("error: " + refusal, export.stderr.splitlines()[-1]), export.stderr
        assert not os.path.exists(os.path.join(model_dir, "export"))
    finally:
        holder.kill()
        holder.wait()
    capsys.readouterr()
    train(*command)  # the holder died without releasing: its lock is taken over
    out = capsys.readouterr().out
    assert re.search(rf"taking over the lock of '{re.escape(model_dir)}' from zoo-train on "
                     rf"host {re.escape(host)}, pid {holder.pid} \(since [-0-9: ]+\): pid "
                     rf"{holder.pid} no longer runs on {re.escape(host)}\n", out), out
    assert "nothing to do" in out
    assert not os.path.exists(os.path.join(model_dir, "zoo.lock"))  # released at the end


def test_a_position_saved_after_skipping_falls_back_to_skipping(trained, tmp_path, corpus,
                                                               capsys):
    """A run that resumed by skipping batches (no input position saved at its step)
    saves positions of that other pipeline; the next resume cannot restore them
    and skips too, instead of crashing (found by benchmarks/kill_storm.py)."""
    model_dir = copy_of(trained, tmp_path)
    shutil.rmtree(os.path.join(model_dir, "input"))
    common = [f"--model_dir={model_dir}", f"--train_data={corpus}", *NANO]
    train(*common, "--train_steps=6")
    assert "at step 4; input skipped to that batch" in capsys.readouterr().out
    train(*common, "--train_steps=8")
    out = capsys.readouterr().out
    assert (f"the input position {model_dir}/input/worker-0-of-1/ckpt-6 does not restore into "
            "this pipeline; skipping to batch 6 instead") in out
    assert "at step 6; input skipped to that batch" in out
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-8")


def test_a_relative_model_dir_resumes(trained, tmp_path, corpus, capsys, monkeypatch):
    """The checkpoint check reads the state file's names as TensorFlow gives them
    (already joined to the model_dir): a relative --model_dir resumes too."""
    model_dir = copy_of(trained, tmp_path)
    monkeypatch.chdir(os.path.dirname(model_dir))
    relative = os.path.basename(model_dir)
    train(f"--model_dir={relative}", f"--train_data={corpus}", "--train_steps=6", *NANO)
    assert f"resumed from {relative}/ckpt-4 at step 4" in capsys.readouterr().out
