"""zoo-export --quantize=int8: round trip, size, agreement with float, failure modes."""
import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from zoo.cli import train as train_cli
from zoo.serve.quantize import QuantizeError, directory_bytes, int8_variables, quantize_model
from zoo.train.job import train_from_flags

FLAGS = train_cli.flags.FLAGS  # with the zoo-train flags defined
# bert_nano, widened so that its weights (not the graph) dominate the export size.
NANO = ["--model=bert_nano", "--model_overrides=hidden_dim=128,intermediate_dim=512",
        "--seq_len=32", "--global_batch_size=16", "--steps_per_loop=15", "--vocab_size=300",
        "--learning_rate=2e-3", "--noexport"]
GOOD, BAD = ["bright", "warm", "clever", "moving"], ["flat", "tedious", "clumsy", "weak"]
OTHER = ["a", "movie", "about", "two", "friends", "in", "the", "city", "at", "night"]


def sentences(count, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        label = rng.randint(0, 1)
        words = rng.sample(OTHER, 4) + [rng.choice(GOOD if label else BAD)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    from zoo.serve.export import export_model
    root = tmp_path_factory.mktemp("quant")
    train_path, dev_path = root / "train.tsv", root / "dev.tsv"
    for path, count, seed in ((train_path, 480, 0), (dev_path, 48, 1)):
        path.write_text("sentence\tlabel\n" + "".join(
            f"{text}\t{label}\n" for text, label in sentences(count, seed)))
    model_dir = str(root / "cls")
    FLAGS.unparse_flags()
    FLAGS(["zoo-train", f"--model_dir={model_dir}", "--task=classification",
           f"--train_data={train_path}", "--train_steps=45", *NANO])
    train_from_flags(train_cli.train_options())
    int8_path = export_model(model_dir, str(root / "int8"), quantize="int8",
                             eval_data=[str(dev_path)])
    return {"model_dir": model_dir, "int8": int8_path}


def serve(path, texts):
    out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
    return out["label_id"].numpy(), out["probabilities"].numpy()


def test_int8_export_is_smaller_answers_raw_strings_and_agrees(exports):
    """The int8 export against the float model it was made from (restored in process)."""
    texts = [text for text, _ in sentences(40, 7)]
    run = restored_run(exports["model_dir"])
    float_probs = tf.nn.softmax(run.model(run.task.encode({"text": tf.constant(texts)}),
                                          training=False)).numpy()
    float_ids = float_probs.argmax(-1)
    int8_ids, int8_probs = serve(exports["int8"], texts)
    assert np.mean(float_ids == int8_ids) >= 0.9
    np.testing.assert_allclose(int8_probs, float_probs, atol=0.1)
    int8_bytes = directory_bytes(exports["int8"])
    metadata = json.load(open(os.path.join(exports["int8"], "assets.extra", "zoo.json")))
    assert int8_bytes < metadata["float_bytes"]  # the float SavedModel, saved then removed
    assert metadata["quantize"] == "int8" and metadata["quantization"]["layers"] > 0
    evaluation = metadata["eval"]
    assert abs(evaluation["float"]["accuracy"] - evaluation["int8"]["accuracy"]) <= 0.05
    # the SavedModel's kernels are int8 variables, backbone and head
    reader = tf.train.load_checkpoint(os.path.join(exports["int8"], "variables", "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    int8_names = [name for name, dtype in dtypes.items() if dtype == tf.int8]
    assert len(int8_names) == metadata["quantization"]["int8_variables"] >= 16
    assert sorted(os.listdir(os.path.dirname(exports["int8"]))) == ["1"]  # no scratch left


def restored_run(model_dir):
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(model_dir), model_dir)
    tf.train.Checkpoint(model=run.model).restore(
        tf.train.latest_checkpoint(model_dir)).expect_partial()
    return run


def test_quantize_model_makes_every_dense_kernel_int8_and_refuses_twice(exports):
    import keras
    model = restored_run(exports["model_dir"]).model
    summary = quantize_model(model, "int8")
    dense = [layer for layer in model._flatten_layers()
             if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))]
    assert dense and all(layer.kernel.dtype == "int8" for layer in dense)
    assert summary["int8_variables"] == len(int8_variables(model))
    with pytest.raises(QuantizeError, match="already quantized"):
        quantize_model(model, "int8")


def test_failed_quantization_is_reported_and_exports_nothing(exports, tmp_path, monkeypatch):
    import keras

    from zoo.serve.export import export_model

    def broken(self, mode, **kwargs):
        raise RuntimeError("no kernel")
    monkeypatch.setattr(keras.Model, "quantize", broken)
    with pytest.raises(QuantizeError, match="int8 quantization of model .* failed: "
                                            "RuntimeError: no kernel"):
        quantize_model(restored_run(exports["model_dir"]).model, "int8")
    with pytest.raises(QuantizeError, match="unknown --quantize mode 'int4'"):
        export_model(exports["model_dir"], str(tmp_path / "out"), quantize="int4")
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("overrides", ["activation=gelu", "normalize_first=true"])
def test_the_zoos_own_bert_backbone_quantizes_whole(overrides):
    """ZooBertBackbone (exact GELU, as Hugging Face checkpoints; pre-LN): every
    Dense, EinsumDense and the token embedding become int8."""
    import dataclasses

    from plugins import MODELS, apply_overrides, load_plugins
    load_plugins()
    spec = MODELS.get("bert_nano")
    backbone = spec.builder(apply_overrides(dataclasses.replace(spec.config, vocabulary_size=50),
                                            overrides))
    summary = quantize_model(backbone, "int8")
    assert summary["layers"] > 0
    assert any("token_embedding" in path for path in int8_variables(backbone))
