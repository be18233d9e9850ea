"""--precision, --jit_compile, --grad_accum_steps and --batching (one_device, in process).

Dropout is off where runs are compared, so only the arithmetic differs.
MirroredStrategy runs are in tests/test_distribution.py (a subprocess each).
"""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.cli.common import UsageError
from zoo.data.builtin import write_corpus
from zoo.train.job import default_options, train_from_flags
from flagrun import train

FLAGS = flags.FLAGS
NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=8", "--vocab_size=300",
        "--steps_per_loop=5", "--checkpoint_every=10", "--noexport", "--shuffle_buffer=50",
        "--seed=3", "--model_overrides=dropout=0", "--learning_rate=2e-3"]
STEPS = 8


def checkpoint(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith("input/")}  # (the input position: an opaque variant)


def model_weights(model_dir):
    return {n: v for n, v in checkpoint(model_dir).items()
            if n.startswith("optimizer/_trainable_variables/")}


def log(model_dir):
    with open(os.path.join(model_dir, "train_log.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def assert_same_training(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose([r["loss"] for r in log(b)], [r["loss"] for r in log(a)],
                               rtol=rtol)
    weights_a, weights_b = model_weights(a), model_weights(b)
    assert weights_a.keys() == weights_b.keys() and len(weights_a) > 10
    for name, value in weights_a.items():
        np.testing.assert_allclose(weights_b[name], value, rtol=rtol, atol=atol, err_msg=name)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("data") / "c.txt"), 300, seed=5)


@pytest.fixture(scope="module")
def plain(tmp_path_factory, corpus):
    """STEPS plain float32 steps of MLM at global batch 8: the reference."""
    model_dir = str(tmp_path_factory.mktemp("plain") / "run")
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", f"--train_steps={STEPS}", *NANO)
    return model_dir


# -- gradient accumulation and XLA equal the plain step ----------------------

@pytest.mark.parametrize("extra", [["--grad_accum_steps=4"], ["--jit_compile"]],
                         ids=["accum4", "jit"])
def test_step_variants_train_like_the_plain_step(tmp_path, corpus, plain, extra, capsys):
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", f"--train_steps={STEPS}",
          *NANO, *extra)
    assert "--jit_compile is off" not in capsys.readouterr().out
    losses = [r["loss"] for r in log(model_dir)]
    assert [r["step"] for r in log(model_dir)] == [5, STEPS]  # optimizer steps
    assert losses[-1] < losses[0]
    assert_same_training(plain, model_dir)
    assert int(checkpoint(model_dir)["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == STEPS


def test_bucketed_batching_trains_and_is_recorded(tmp_path, corpus):
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", f"--train_data={corpus}", "--train_steps=5", *NANO,
          "--batching=bucket", "--task_config=packing=false")
    assert [r["step"] for r in log(model_dir)] == [5] and np.isfinite(log(model_dir)[0]["loss"])
    with open(os.path.join(model_dir, "config.json")) as handle:
        assert json.load(handle)["training"]["batching"] == "bucket"


def test_accumulation_is_exact_for_a_loss_of_several_terms(tmp_path, corpus):
    """mlm_nsp's MLM term has uneven weights across micro-batches: still equal."""
    runs = {}
    for name, extra in (("one", []), ("accum", ["--grad_accum_steps=2"])):
        runs[name] = str(tmp_path / name)
        train(f"--model_dir={runs[name]}", f"--train_data={corpus}", "--task=mlm_nsp",
              "--train_steps=3", "--task_config=dropout=0", *NANO, *extra)
    assert_same_training(runs["one"], runs["accum"])


# -- mixed precision ---------------------------------------------------------

@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_resumes_and_exports(tmp_path, corpus, precision, capsys,
                                                    monkeypatch):
    """Both train with float32 variables; float16 (whose loss scaling is the
    harder case) also resumes and exports."""
    if precision == "mixed_float16":
        # Start the loss scale too high, so the scaler must skip and halve a few times.
        import zoo.train.loop
        monkeypatch.setattr(zoo.train.loop, "with_loss_scaling", lambda optimizer, _: (
            keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0 ** 24)))
    import zoo.train.loop
    built, assemble = [], zoo.train.loop.assemble
    monkeypatch.setattr(zoo.train.loop, "assemble",
                        lambda *a, **k: built.append(assemble(*a, **k)) or built[-1])
    model_dir = str(tmp_path / "run")
    common = [f"--model_dir={model_dir}", f"--train_data={corpus}",
              f"--precision={precision}", *NANO]
    train("--train_steps=10", *common)  # nan_policy=stop: scaler skips are no NaN
    assert keras.config.dtype_policy().name == "float32"  # restored after the build
    # The training model computes in the low precision: its layers' policy, and an
    # activation (a dense layer's output) has that dtype; its variables stay float32.
    compute = precision.split("_")[1]
    dense = [layer for layer in built[0].backbone._flatten_layers()
             if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))]
    assert len(dense) > 4 and all(layer.compute_dtype == compute for layer in dense), \
        [(layer.name, layer.compute_dtype) for layer in dense]
    first_dense = next(layer for layer in dense if isinstance(layer, keras.layers.Dense))
    activation = first_dense(np.ones((1, first_dense.kernel.shape[0]), "float32"))
    assert activation.dtype == compute and first_dense.kernel.dtype == "float32"
    first = log(model_dir)
    assert first[-1]["loss"] < first[0]["loss"]
    saved = checkpoint(model_dir)
    assert all(v.dtype == np.float32 for n, v in saved.items() if "_trainable_variables" in n)
    if precision == "mixed_float16":
        scale = float(saved["optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"])
        assert scale < 2.0 ** 24 and first[-1]["loss_scale"] == scale
        applied = int(saved["optimizer/inner_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"])
        assert applied < 10  # overflowing steps were skipped, not applied
    other = "float32" if precision == "mixed_float16" else "mixed_float16"
    with pytest.raises(UsageError, match=f"trained with --precision={precision}; resuming "
                                         f"with --precision={other} would change"):
        train("--train_steps=14", *common, f"--precision={other}")
    if precision == "mixed_bfloat16":
        return
    capsys.readouterr()
    train("--train_steps=12", "--nan_policy=skip", *common, "--export")
    out = capsys.readouterr().out
    assert f"resumed from {model_dir}/ckpt-10 at step 10" in out and "skipped" not in out
    resumed = log(model_dir)[len(first):]
    assert [r["step"] for r in resumed] == [12]
    assert resumed[0]["loss_scale"] == scale  # the scale was restored
    served = tf.saved_model.load(os.path.join(model_dir, "export", "1")).signatures[
        "serving_default"](text=tf.constant(["the [MASK] is here .", "a [MASK] day"]))
    assert served["top_probs"].dtype == tf.float32
    assert np.all(np.isfinite(served["top_probs"].numpy()))


# -- bad combinations fail before any work ----------------------------------

@pytest.mark.parametrize("overrides, message", [
    ({"global_batch_size": 6, "grad_accum_steps": 4},
     r"--global_batch_size=6 is not divisible by 1 replica\(s\) x --grad_accum_steps=4"),
    ({"grad_accum_steps": 0}, "--grad_accum_steps must be at least 1, got 0"),
    ({"batching": "sorted"}, "--batching must be one of plain, bucket, got 'sorted'"),
    ({"precision": "float8"}, "--precision: unknown precision 'float8'; choose from float32, "
                              "mixed_bfloat16, mixed_float16"),
])
def test_bad_options_fail_before_work_starts(tmp_path, overrides, message):
    model_dir = tmp_path / "run"
    with pytest.raises(UsageError, match=message):
        train_from_flags(default_options(model="bert_nano", model_dir=str(model_dir),
                                         **overrides))
    assert not model_dir.exists()


def test_unknown_precision_is_a_flag_error():
    FLAGS.unparse_flags()
    with pytest.raises(flags.IllegalFlagValueError,
                       match=r"one of <float32\|mixed_bfloat16\|mixed_float16>"):
        FLAGS(["zoo-train", "--precision=float8"])
    FLAGS.unparse_flags()
