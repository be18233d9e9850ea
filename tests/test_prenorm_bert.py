"""`normalize_first=true` on a BERT size: pre-LN blocks with BERT's interface, and a
model_dir saved before the field existed still resumes (it was post-LN)."""
import dataclasses

import numpy as np
import pytest

from plugins import MODELS, apply_overrides, load_plugins
from zoo.models.bert_backbone import ZooBertBackbone
from zoo.run_config import config_differences


def build(overrides):
    load_plugins()
    spec = MODELS.get("bert_nano")
    config = apply_overrides(dataclasses.replace(spec.config, vocabulary_size=50), overrides)
    return spec.builder(config)


def test_pre_ln_blocks_with_berts_interface():
    pre, post = build("normalize_first=true,dropout=0"), build("dropout=0")
    assert isinstance(pre, ZooBertBackbone) and not isinstance(post, ZooBertBackbone)
    assert all(layer.normalize_first for layer in pre.transformer_layers)
    assert not any(layer.normalize_first for layer in post.transformer_layers)
    # One more layer norm (after the last block); names the tasks use are BERT's.
    assert len(pre.weights) == len(post.weights) + 2
    for name in ("token_embedding", "position_embedding", "segment_embedding",
                 "embeddings_layer_norm", "pooled_dense"):
        assert getattr(pre, name).name == getattr(post, name).name
    inputs = {"token_ids": np.array([[2, 7, 9, 3, 0]]), "segment_ids": np.zeros((1, 5), "int32"),
              "padding_mask": np.array([[1, 1, 1, 1, 0]])}
    outputs = pre(inputs)
    assert outputs["sequence_output"].shape == (1, 5, 64)
    assert outputs["pooled_output"].shape == (1, 64)
    # The final layer norm: each position's features have mean 0, variance 1.
    sequence = np.asarray(outputs["sequence_output"])
    np.testing.assert_allclose(sequence.mean(-1), 0, atol=1e-4)
    np.testing.assert_allclose(sequence.var(-1), 1, atol=1e-2)


@pytest.mark.parametrize("saved,requested,differs", [
    ({}, {"normalize_first": False}, False),  # saved before the field existed: post-LN
    ({}, {"normalize_first": True}, True),
    ({"normalize_first": True}, {"normalize_first": False}, True)])
def test_resume_compares_the_field_as_older_runs_had_it(saved, requested, differs):
    from zoo.run_config import RunConfig
    fields = {f.name: None for f in dataclasses.fields(RunConfig)}

    def run(model_config):
        return RunConfig(**{**fields, "model_config": {"num_layers": 2, **model_config}})
    assert bool(config_differences(run(saved), run(requested))) == differs
