"""A full disk: writing a checkpoint, an export, the vocab or the logs fails with one
clear error naming the path (and the bytes needed and free, where known), and
the previous checkpoint and export stay intact and loadable.

The checkpoint and export cases run on a tmpfs of a chosen size (mounting needs
root; elsewhere they patch the write to fail with ENOSPC, as the vocab and log
cases always do: a tmpfs cannot be sized between such small files).
"""
import os
import re
import shutil
import subprocess

import pytest
import tensorflow as tf

from flagrun import train
from test_faults import NANO, corpus, trained  # noqa: F401  (the shared fixtures)


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> the directory of a fresh tmpfs of `size` bytes (root only), or
    None where mounting is not allowed; unmounted after the test."""
    mounted = []

    def mount(size):
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(point)], capture_output=True)
        if result.returncode:
            return None
        mounted.append(point)
        return str(point)
    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def bytes_under(path):
    return sum(os.path.getsize(os.path.join(root, name)) + 4096
               for root, _, names in os.walk(path) for name in names)


def test_a_full_disk_fails_the_checkpoint_naming_it_and_keeps_the_last(
        trained, tmp_path, corpus, small_disk, monkeypatch):
    """On a tmpfs with room for half a checkpoint more (or, where mounting is not
    allowed, with the save patched to fail with ENOSPC), saving ckpt-4 fails with
    one clear error; ckpt-2 is intact and the half-written files are gone."""
    from zoo.disk_full import DiskFullError
    from zoo.train.checkpoint_repair import why_unrestorable
    staging = str(tmp_path / "staging")
    shutil.copytree(trained, staging, ignore=shutil.ignore_patterns("ckpt-4.*", "zoo.lock"))
    checkpoint = sum(os.path.getsize(os.path.join(staging, n)) for n in os.listdir(staging)
                     if n.startswith("ckpt-2."))
    disk = small_disk(bytes_under(staging) + checkpoint // 2 + 64 * 1024)
    if disk is None:  # the fallback: TensorFlow's error for a full disk, at the write
        def full(*_, **__):
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        monkeypatch.setattr(tf.train.CheckpointManager, "save", full)
        disk = str(tmp_path / "disk")
    model_dir = os.path.join(disk, "run")
    shutil.copytree(staging, model_dir)
    tf.compat.v1.train.update_checkpoint_state(model_dir, os.path.join(model_dir, "ckpt-2"))
    with pytest.raises(DiskFullError) as error:
        train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=4", *NANO)
    assert re.fullmatch(
        rf"no space left on the device of {re.escape(model_dir)}/ckpt-4 while writing a "
        rf"checkpoint \(it needs about {checkpoint:,} bytes; [0-9,]+ are free\)\. The last "
        rf"good one is kept: {re.escape(model_dir)}/ckpt-2", str(error.value)), str(error.value)
    assert tf.train.latest_checkpoint(model_dir) == os.path.join(model_dir, "ckpt-2")
    assert why_unrestorable(os.path.join(model_dir, "ckpt-2")) is None
    assert not [n for n in os.listdir(model_dir) if n.startswith("ckpt-4")]


def test_a_full_disk_fails_the_export_naming_it_and_keeps_the_last_version(
        trained, tmp_path, corpus, small_disk, monkeypatch):
    """On a tmpfs with room for one more checkpoint but not another export (or,
    where mounting is not allowed, with the save patched to fail with ENOSPC),
    export version 2 fails with one clear error; version 1 still serves raw text
    and nothing half-written is left."""
    import errno
    import zoo.serve.export
    from zoo.disk_full import DiskFullError
    from zoo.serve.export import export_model
    staging = str(tmp_path / "staging")
    shutil.copytree(trained, staging, ignore=shutil.ignore_patterns("zoo.lock"))
    export_model(staging, os.path.join(staging, "export"))
    checkpoint = sum(os.path.getsize(os.path.join(staging, n)) for n in os.listdir(staging)
                     if n.startswith("ckpt-4."))
    disk = small_disk(bytes_under(staging) + checkpoint * 3 // 2 + 128 * 1024)
    if disk is None:  # the fallback: the operating system's error, at the write
        def full(*_, **__):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(zoo.serve.export, "_save", full)
        disk = str(tmp_path / "disk")
    model_dir = os.path.join(disk, "run")
    shutil.copytree(staging, model_dir)
    export_dir = os.path.join(model_dir, "export")
    with pytest.raises(DiskFullError) as error:
        train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=6", *NANO,
              "--export")
    assert re.fullmatch(
        rf"no space left on the device of {re.escape(export_dir)} while writing the export "
        rf"\([0-9,]+ are free\)\. The last good one is kept: {re.escape(export_dir)}/1",
        str(error.value)), str(error.value)
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-6")
    assert sorted(os.listdir(export_dir)) == ["1"]
    assert not [n for _, d, f in os.walk(model_dir) for n in d + f if ".tmp-" in n]
    served = tf.saved_model.load(os.path.join(export_dir, "1")).signatures["serving_default"]
    assert served(tf.constant(["the cat sat on the mat"]))


@pytest.mark.parametrize("what", ["vocab", "logs"])
def test_a_full_disk_fails_the_vocab_or_the_logs_naming_them(tmp_path, corpus, monkeypatch,
                                                              what):
    """The write patched to fail with ENOSPC (a tmpfs cannot be sized between
    these small files): one clear error naming the path and what was written."""
    import errno
    import zoo.atomic_files
    import zoo.data.tokenizers.vocab_learners
    from zoo.disk_full import DiskFullError

    def full(*_, **__):
        raise OSError(errno.ENOSPC, "No space left on device")
    owner = zoo.data.tokenizers.vocab_learners if what == "vocab" else zoo.atomic_files
    monkeypatch.setattr(owner, "atomic_write_text" if what == "vocab" else "append_text", full)
    model_dir = str(tmp_path / "run")
    with pytest.raises(DiskFullError) as error:
        train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=4", *NANO)
    expected = {"vocab": rf"{re.escape(model_dir)}/vocab\.txt while writing the vocab",
                "logs": rf"{re.escape(model_dir)} while writing the logs, summaries or "
                        rf"checkpoints"}[what]
    assert re.fullmatch(rf"no space left on the device of {expected} \([0-9,]+ are free\)\..*",
                        str(error.value)), str(error.value)
