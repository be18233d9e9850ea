"""LoRA fine-tuning (--lora_rank): what trains, what stays, resume, merged export, errors."""
import contextlib
import dataclasses
import io
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from flagrun import train
from test_finetune import write_sentiment
from zoo.train.lora import LoraError, add_adapters, merge_adapters, select
from zoo.train.options import UsageError

NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=16", "--steps_per_loop=20",
        "--vocab_size=300"]
TEXTS = ["the film was superb", "the film was awful", "a story with dull music",
         "lovely actors and plot"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"train": write_sentiment(root / "train.tsv", 600, 0, ("0", "1")),
            "dev": write_sentiment(root / "dev.tsv", 100, 1, ("0", "1"))}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data):
    model_dir = str(tmp_path_factory.mktemp("pre"))
    train(f"--model_dir={model_dir}", "--task=mlm", f"--train_data={data['train']}",
          "--train_steps=20", "--noexport", "--learning_rate=2e-3", *NANO)
    return model_dir


def lora_command(model_dir, data, pretrained, *extra):
    return [f"--model_dir={model_dir}", "--task=classification",
            f"--train_data={data['train']}", f"--init_checkpoint={pretrained}",
            "--lora_rank=4", "--lora_alpha=8", "--train_steps=60", "--checkpoint_every=20",
            "--learning_rate=3e-2", "--model_overrides=dropout=0", *NANO, *extra]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, data, pretrained):
    """A LoRA classifier trained from `pretrained`, exported; (model_dir, logs, stdout)."""
    model_dir = str(tmp_path_factory.mktemp("lora"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        logs = train(*lora_command(model_dir, data, pretrained, f"--eval_data={data['dev']}"))
    return model_dir, logs, out.getvalue()


def restored(model_dir, checkpoint=None):
    """The run of model_dir, built as its config.json says (adapters too) and restored."""
    from plugins import load_plugins
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    load_plugins()
    run = assemble(load_run_config(model_dir), model_dir)
    tf.train.Checkpoint(model=run.model).restore(
        checkpoint or tf.train.latest_checkpoint(model_dir)).expect_partial() \
        .assert_existing_objects_matched()
    return run


def backbone_values(run):
    return {v.path: v.numpy() for v in run.backbone.weights}


def serve(path, texts=TEXTS):
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    return loaded, {k: v.numpy() for k, v in out.items()}


# -- layer selection and merging, without training --------------------------------

@pytest.fixture(scope="module")
def nano_backbone():
    from plugins import MODELS, load_plugins
    load_plugins()
    spec = MODELS.get("bert_nano")
    return lambda: spec.builder(dataclasses.replace(spec.config, vocabulary_size=50))


def test_targets_select_layers_by_keyword_path_and_name(nano_backbone):
    backbone = nano_backbone()
    paths = lambda targets: [p for p, _ in select(backbone, targets)]  # noqa: E731
    assert paths("attention") == [f"transformer_layer_{i}/self_attention_layer/{n}"
                                  for i in (0, 1) for n in ("value", "query")]
    assert len(paths("all")) == 13  # 6 per layer and the pooler
    assert len(paths("transformer_layer_1/*")) == 6
    assert paths("key,pooled_dense") == ["transformer_layer_0/self_attention_layer/key",
                                         "transformer_layer_1/self_attention_layer/key",
                                         "pooled_dense"]
    with pytest.raises(LoraError, match=r"'keys\*' matches no Dense/EinsumDense layer of "
                       r"BertBackbone; its layers are: .*transformer_layer_0/self_attention"
                       r"_layer/query, .*pooled_dense"):
        select(backbone, "attention,keys*")


def test_adapters_freeze_the_base_and_merge_into_the_same_function(nano_backbone):
    backbone = nano_backbone()
    inputs = {"token_ids": np.array([[2, 7, 9, 3, 0]]), "segment_ids": np.zeros((1, 5), "int32"),
              "padding_mask": np.array([[1, 1, 1, 1, 0]])}
    paths = add_adapters(backbone, rank=2, alpha=6, targets="all")
    assert len(paths) == 13
    assert sorted({v.path.rsplit("/", 1)[1] for v in backbone.trainable_weights}) == \
        ["lora_kernel_a", "lora_kernel_b"]
    for variable in backbone.trainable_weights:  # B starts at zero: give it a value
        variable.assign(np.random.default_rng(0).normal(0, 0.1, variable.shape))
    before = backbone(inputs)["sequence_output"].numpy()
    assert merge_adapters(backbone) == 13
    assert not [v.path for v in backbone.weights if "lora" in v.path]
    np.testing.assert_allclose(backbone(inputs)["sequence_output"].numpy(), before, atol=1e-5)


# -- training ---------------------------------------------------------------------

def test_lora_trains_a_small_share_and_prints_it(lora_run, pretrained):
    model_dir, _, out = lora_run
    line = next(line for line in out.splitlines() if line.startswith("lora: "))
    assert line.startswith("lora: rank 4, alpha 8 (scale 2) on 4 layer(s): transformer_layer_0/"
                           "self_attention_layer/value, ")
    trainable, total = [int(n.replace(",", "")) for n in
                        line.split("; ")[1].split(" parameters")[0].split(" of ")]
    full = restored(pretrained).model.count_params()  # what full fine-tuning trains, about
    assert trainable < 0.05 * full and trainable < 0.05 * total
    assert f"({trainable:,} trainable)" in out
    assert "init from " in out and "unmatched 0" in out
    config = json.load(open(os.path.join(model_dir, "config.json")))
    assert {k: v for k, v in config["training"].items() if k.startswith("lora")} == \
        {"lora_rank": 4, "lora_alpha": 8.0, "lora_targets": "attention"}


def test_base_weights_stay_adapters_and_head_learn(lora_run, pretrained):
    model_dir, logs, _ = lora_run
    base, tuned = backbone_values(restored(pretrained)), backbone_values(restored(model_dir))
    adapters = {p for p in tuned if "lora_kernel" in p}
    assert len(adapters) == 8 and set(tuned) - adapters == set(base)
    for path in base:  # the pretrained weights, bit for bit
        np.testing.assert_array_equal(tuned[path], base[path], err_msg=path)
    assert all(np.abs(tuned[p]).max() > 0 for p in adapters if p.endswith("lora_kernel_b"))
    losses = [json.loads(line)["loss"] for line in open(os.path.join(model_dir,
                                                                     "train_log.jsonl"))]
    assert losses[-1] < 0.8 * losses[0]
    assert logs["eval"]["accuracy"] > 0.8


def test_checkpoints_hold_the_adapters_and_resume_bit_exactly(lora_run, data, pretrained,
                                                               tmp_path):
    model_dir, _, _ = lora_run
    from tensorflow.core.protobuf.trackable_object_graph_pb2 import TrackableObjectGraph
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    names = reader.get_variable_to_shape_map()
    graph = TrackableObjectGraph.FromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    # (saved once each, named by their shortest path: the optimizer's list of them)
    edges = [child.local_name for node in graph.nodes for child in node.children]
    assert edges.count("lora_kernel_a") == edges.count("lora_kernel_b") == 4
    # The same run cut at step 40, then resumed with the same command.
    copy = str(tmp_path / "cut")
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("ckpt-60*", "export"))
    tf.compat.v1.train.update_checkpoint_state(copy, os.path.join(copy, "ckpt-40"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        train(*lora_command(copy, data, pretrained, f"--eval_data={data['dev']}",
                            "--noexport"))
    assert "resumed from" in out.getvalue() and "init from" not in out.getvalue()
    one = tf.train.load_checkpoint(os.path.join(model_dir, "ckpt-60"))
    two = tf.train.load_checkpoint(os.path.join(copy, "ckpt-60"))
    # (the object graph and save counter say how often each run saved, not what it holds;
    # the input position is an opaque variant)
    values = [n for n in names if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and
              not n.startswith(("save_counter", "input/"))]
    assert len(values) > 50
    for name in values:
        np.testing.assert_array_equal(one.get_tensor(name), two.get_tensor(name), err_msg=name)


def test_a_lora_run_initialises_another_run_with_its_adapters_merged(lora_run, pretrained):
    """--init_checkpoint=<a LoRA run>: the new backbone starts from W + A @ B * alpha / rank,
    with no adapter variable, whether the new run trains fully or with LoRA again."""
    from zoo.train.initialization import initialize_backbone
    model_dir, _, _ = lora_run
    tuned = restored(model_dir)
    assert merge_adapters(tuned.model) == 4
    merged, base = backbone_values(tuned), backbone_values(restored(pretrained))
    fresh = restored(pretrained)  # a backbone of the same shape, to initialise
    report = initialize_backbone(fresh.backbone, fresh.model, model_dir, family="encoder")
    assert report.unmatched == [] and len(report.restored) == len(merged)
    values = backbone_values(fresh)
    assert values.keys() == merged.keys()
    for path, value in merged.items():
        np.testing.assert_array_equal(values[path], value, err_msg=path)
    query = "transformer_layer_0/self_attention_layer/query/kernel"
    assert np.abs(values[query] - base[query]).max() > 1e-4  # the adapters' share is in


def test_lora_under_mixed_float16_trains_float32_adapters_on_the_kept_base(tmp_path, data,
                                                                          pretrained):
    model_dir = str(tmp_path / "mixed")
    train(*lora_command(model_dir, data, pretrained, "--precision=mixed_float16",
                        "--train_steps=10", "--checkpoint_every=10", "--noexport"))
    base, tuned = backbone_values(restored(pretrained)), backbone_values(restored(model_dir))
    for path in base:
        np.testing.assert_array_equal(tuned[path], base[path], err_msg=path)
    adapters = {p: v for p, v in tuned.items() if "lora_kernel" in p}
    assert len(adapters) == 8 and all(v.dtype == np.float32 for v in adapters.values())
    assert all(np.abs(v).max() > 0 for p, v in adapters.items() if p.endswith("_b"))
    losses = [json.loads(line)["loss"] for line in open(os.path.join(model_dir,
                                                                     "train_log.jsonl"))]
    assert np.all(np.isfinite(losses))


# -- export -----------------------------------------------------------------------

def test_export_merges_the_adapters_and_answers_as_the_unmerged_model(lora_run):
    model_dir, _, _ = lora_run
    _, served = serve(os.path.join(model_dir, "export", "1"))
    names = tf.train.load_checkpoint(os.path.join(model_dir, "export", "1", "variables",
                                                  "variables")).get_variable_to_shape_map()
    assert len(names) > 30 and not [n for n in names if "lora" in n]
    metadata = json.load(open(os.path.join(model_dir, "export", "1", "assets.extra",
                                           "zoo.json")))
    assert metadata["lora_merged_layers"] == 4
    run = restored(model_dir)  # adapters in place, not merged
    unmerged = run.task.serving_signatures(run.model)["serving_default"](
        tf.constant(TEXTS))
    np.testing.assert_allclose(served["probabilities"], unmerged["probabilities"].numpy(),
                               atol=1e-5)
    assert served["label_id"].tolist() == [1, 0, 0, 1]


def test_int8_export_after_merging(lora_run, tmp_path):
    from zoo.serve.export import export_model
    model_dir, _, _ = lora_run
    path = export_model(model_dir, str(tmp_path / "int8"), quantize="int8")
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    assert tf.int8 in dtypes.values() and not [n for n in dtypes if "lora" in n]
    _, float_out = serve(os.path.join(model_dir, "export", "1"))
    _, int8_out = serve(path)
    np.testing.assert_allclose(int8_out["probabilities"], float_out["probabilities"], atol=0.1)


# -- errors before any work -------------------------------------------------------

def test_a_target_that_matches_nothing_fails_before_work_naming_the_layers(tmp_path, data,
                                                                             pretrained):
    model_dir = tmp_path / "bad"
    with pytest.raises(UsageError, match=r"--lora_targets: 'querry' matches no Dense/EinsumDense "
                       r"layer of BertBackbone; its layers are: transformer_layer_0/"
                       r"feedforward_output_dense, .*self_attention_layer/query, .*pooled_dense$"):
        train(*lora_command(model_dir, data, pretrained, "--lora_targets=attention,querry"))
    assert not (model_dir / "config.json").exists()


@pytest.mark.parametrize("flags, message", [
    (["--lora_rank=4", "--freeze=embeddings"], "--freeze=embeddings and --lora_rank do not "
                                               "combine"),
    (["--lora_targets=all"], "--lora_alpha and --lora_targets need --lora_rank"),
    (["--lora_rank=-1"], "--lora_rank and --lora_alpha must be >= 0"),
])
def test_bad_lora_flags_fail_before_work(tmp_path, data, flags, message):
    with pytest.raises(UsageError, match=message):
        train(f"--model_dir={tmp_path}/bad", "--task=classification",
              f"--train_data={data['train']}", *NANO, *flags)
    assert not (tmp_path / "bad" / "config.json").exists()


def test_resuming_with_other_lora_settings_is_refused(lora_run, data, pretrained):
    model_dir, _, _ = lora_run
    with pytest.raises(UsageError, match=r"--lora_rank: 4 -> 8"):
        train(*lora_command(model_dir, data, pretrained, "--lora_rank=8"))
