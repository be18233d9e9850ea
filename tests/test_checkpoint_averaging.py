"""Checkpoint averaging (zoo.evaluate.averaging): zoo-export and evaluation of the
mean of the last N checkpoints equal the numpy mean of those checkpoints' variables."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from flagrun import train
from zoo.evaluate.averaging import last_checkpoints

TEXT = "\n\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog {i % 7}."
                   for i in range(60))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("avg")
    (root / "train.txt").write_text(TEXT)
    directory = str(root / "gpt")
    train("--model=gpt_nano", "--task=clm", "--tokenizer=char", "--text_mode=paragraph",
          f"--train_data={root / 'train.txt'}", "--seq_len=32", "--global_batch_size=8",
          "--train_steps=8", "--steps_per_loop=2", "--checkpoint_every=2",
          "--keep_checkpoints=10", "--learning_rate=1e-2", "--noexport",
          f"--model_dir={directory}")
    return directory


def checkpoint_means(paths):
    """{shape: [mean arrays]} of every float variable stored in the checkpoints (the
    model's weights are among them, under whichever object path reached them first)."""
    readers = [tf.train.load_checkpoint(p) for p in paths]
    dtypes = readers[0].get_variable_to_dtype_map()
    means = {}
    for key, dtype in dtypes.items():
        if key.endswith("VARIABLE_VALUE") and dtype.is_floating:
            mean = np.mean([r.get_tensor(key).astype(np.float64) for r in readers], axis=0)
            means.setdefault(mean.shape, []).append(mean)
    return means


def matches(value, means):
    return any(np.allclose(value, m, rtol=0, atol=1e-6) for m in means.get(value.shape, []))


def test_last_checkpoints_order_and_errors(model_dir):
    paths = last_checkpoints(model_dir, 3)
    assert [os.path.basename(p) for p in paths] == ["ckpt-4", "ckpt-6", "ckpt-8"]
    assert [os.path.basename(p) for p in last_checkpoints(
        model_dir, 2, os.path.join(model_dir, "ckpt-6"))] == ["ckpt-4", "ckpt-6"]
    with pytest.raises(ValueError, match="cannot average 9 checkpoints.*keeps 4"):
        last_checkpoints(model_dir, 9)


def test_export_of_the_average_equals_the_numpy_mean(model_dir, tmp_path):
    from zoo.serve.export import export_model
    path = export_model(model_dir, str(tmp_path / "export"), average_checkpoints=3)
    metadata = json.loads((tmp_path / "export" / "1" / "assets.extra" / "zoo.json").read_text())
    assert metadata["averaged"] == ["ckpt-4", "ckpt-6", "ckpt-8"]
    exported = [v.numpy() for v in tf.saved_model.load(path).model_variables
                if v.dtype.is_floating]
    means = checkpoint_means(last_checkpoints(model_dir, 3))
    last = checkpoint_means(last_checkpoints(model_dir, 1))
    assert exported and all(matches(value, means) for value in exported)
    assert not all(matches(value, last) for value in exported)  # not just the newest one
    # The export still answers raw text.
    signature = tf.saved_model.load(path).signatures["serving_default"]
    assert signature(prompt=tf.constant(["Line"]))


def test_evaluation_of_the_average(model_dir, tmp_path):
    from zoo.evaluate.evaluation import evaluate_model_dir
    (tmp_path / "val.txt").write_text(TEXT[:400])
    strategy = tf.distribute.get_strategy()
    single = evaluate_model_dir(model_dir, [str(tmp_path / "val.txt")], strategy, 8)
    averaged = evaluate_model_dir(model_dir, [str(tmp_path / "val.txt")], strategy, 8,
                                  average_checkpoints=4)
    assert averaged["averaged"] == ["ckpt-2", "ckpt-4", "ckpt-6", "ckpt-8"]
    assert "averaged" not in single and averaged["loss"] != single["loss"]


def test_cli_refuses_more_checkpoints_than_kept(model_dir, tmp_path):
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli.export", f"--model_dir={model_dir}",
         f"--export_dir={tmp_path / 'export'}", "--average_checkpoints=9"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "cannot average 9 checkpoints" in done.stderr + done.stdout
    assert not (tmp_path / "export").exists()
