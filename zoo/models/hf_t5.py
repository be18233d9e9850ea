"""Maps a Hugging Face T5 checkpoint (config.json + safetensors) onto keras-hub's
T5Backbone, which keras-hub 0.32 cannot convert itself.

Published names (T5ForConditionalGeneration, v1.0 and v1.1) and where they go;
torch Linear weights are [out, in], so every projection is transposed:

    shared.weight                                        token_embedding.embeddings
    lm_head.weight (untied, v1.1)                        token_embedding.reverse_embeddings (T)
    {stack}.block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight
                                                         {stack} layer i self_attention (T)
    {stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight
                                                         layer 0 relative_attention_bias
    {stack}.block.{i}.layer.0.layer_norm.weight          self_attention_layer_norm
    decoder.block.{i}.layer.1.EncDecAttention.{q,k,v,o}.weight, .layer_norm.weight
                                                         cross_attention, cross_attention_layer_norm
    {stack}.block.{i}.layer.{1|2}.DenseReluDense.wi / wi_0, wi_1, wo
                                                         input_projector, gate_projector, output_projector (T)
    {stack}.block.{i}.layer.{1|2}.layer_norm.weight      layer_norm (before the feed-forward)
    {stack}.final_layer_norm.weight                      {stack}_output_layer_norm

Example:
    >>> fields = config_fields(json.load(open("hf/t5-small/config.json")))
    >>> backbone = load_backbone("hf/t5-small")      # keras_hub.models.T5Backbone
"""
import json
import os

import numpy as np

#: T5 v1.1's gelu (HF "gelu_new") is the tanh approximation: keras-hub's registered
#: gelu_approximate, serialized so that it is a JSON value of the run's config.
GELU_TANH = {"module": "builtins", "class_name": "function",
             "config": "keras_hub>gelu_approximate", "registered_name": "function"}
#: feed_forward_proj -> (keras activation, gated).
FEED_FORWARD = {"relu": ("relu", False), "gated-gelu": (GELU_TANH, True),
                "gated-relu": ("relu", True), "gelu": (GELU_TANH, False)}


class T5ImportError(ValueError):
    pass


def config_fields(hf_config):
    """The zoo T5Config fields of a Hugging Face T5 config.json (a dict)."""
    projection = hf_config.get("feed_forward_proj", "relu")
    if projection not in FEED_FORWARD:
        raise T5ImportError(f"T5 feed_forward_proj '{projection}' is not supported; known: "
                            f"{', '.join(FEED_FORWARD)}")
    layers = hf_config.get("num_layers", 6)
    unsupported = [f"{key}={hf_config[key]!r} (keras-hub's T5 has {value!r})"
                   for key, value in (("num_decoder_layers", layers),
                                      ("relative_attention_num_buckets", 32),
                                      ("relative_attention_max_distance", 128),
                                      ("layer_norm_epsilon", 1e-6))
                   if hf_config.get(key) not in (None, value)]
    if unsupported:
        raise T5ImportError(f"this T5 checkpoint cannot be built by keras-hub's T5Backbone: "
                            f"{'; '.join(unsupported)}")
    activation, gated = FEED_FORWARD[projection]
    activation = dict(activation) if isinstance(activation, dict) else activation
    return {"num_layers": layers, "hidden_dim": hf_config["d_model"],
            "num_heads": hf_config["num_heads"], "intermediate_dim": hf_config["d_ff"],
            "key_value_dim": hf_config.get("d_kv", hf_config["d_model"] // hf_config["num_heads"]),
            "dropout": hf_config.get("dropout_rate", 0.1), "activation": activation,
            "use_gated_activation": gated,
            "tie_embedding_weights": hf_config.get("tie_word_embeddings", True),
            "vocabulary_size": hf_config["vocab_size"]}


def read_tensors(directory):
    """name -> numpy array of model.safetensors (or its shards, by the index)."""
    from safetensors.numpy import load_file
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as handle:
            files = sorted(set(json.load(handle)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        tensors.update(load_file(os.path.join(directory, name)))
    return tensors


def weight_map(backbone):
    """[(keras variable, published name, transpose)] for every weight of `backbone`."""
    pairs = [(backbone.token_embedding.embeddings, "shared.weight", False)]
    if not backbone.tie_embedding_weights:
        pairs.append((backbone.token_embedding.reverse_embeddings, "lm_head.weight", True))

    def attention(layer, prefix):
        pairs.extend((getattr(layer, f"{name}_projector").kernel, f"{prefix}.{short}.weight",
                      True) for name, short in (("query", "q"), ("key", "k"), ("value", "v"),
                                                ("output", "o")))
        if layer.use_relative_attention_bias:
            pairs.append((layer.relative_attention_bias,
                          f"{prefix}.relative_attention_bias.weight", False))

    for stack, layers, norm in (("encoder", backbone.encoder_transformer_layers,
                                 backbone.encoder_layer_norm),
                                ("decoder", backbone.decoder_transformer_layers,
                                 backbone.decoder_layer_norm)):
        for i, layer in enumerate(layers):
            block = f"{stack}.block.{i}.layer"
            attention(layer.self_attention, f"{block}.0.SelfAttention")
            pairs.append((layer.self_attention_layer_norm.weight, f"{block}.0.layer_norm.weight",
                          False))
            ff = 1
            if stack == "decoder":
                attention(layer.cross_attention, f"{block}.1.EncDecAttention")
                pairs.append((layer.cross_attention_layer_norm.weight,
                              f"{block}.1.layer_norm.weight", False))
                ff = 2
            dense = f"{block}.{ff}.DenseReluDense"
            if layer.use_gated_activation:
                pairs += [(layer.input_projector.kernel, f"{dense}.wi_0.weight", True),
                          (layer.gate_projector.kernel, f"{dense}.wi_1.weight", True)]
            else:
                pairs.append((layer.input_projector.kernel, f"{dense}.wi.weight", True))
            pairs += [(layer.output_projector.kernel, f"{dense}.wo.weight", True),
                      (layer.layer_norm.weight, f"{block}.{ff}.layer_norm.weight", False)]
        pairs.append((norm.weight, f"{stack}.final_layer_norm.weight", False))
    return pairs


def load_weights(backbone, tensors):
    """Assigns the published tensors (name -> array) to `backbone`; returns the
    names used. A missing tensor or a shape that does not fit fails, naming it."""
    used = []
    for variable, name, transpose in weight_map(backbone):
        if name not in tensors:
            raise T5ImportError(f"the T5 checkpoint lacks '{name}' (for {variable.path})")
        value = np.asarray(tensors[name])
        value = value.T if transpose else value
        if tuple(value.shape) != tuple(variable.shape):
            raise T5ImportError(f"'{name}' has shape {value.shape}; {variable.path} needs "
                                f"{tuple(variable.shape)}")
        variable.assign(value.astype(variable.dtype))
        used.append(name)
    return used


def load_backbone(directory, hf_config=None):
    """A keras_hub T5Backbone with the weights of a Hugging Face T5 directory."""
    import keras_hub
    if hf_config is None:
        with open(os.path.join(directory, "config.json"), encoding="utf-8") as handle:
            hf_config = json.load(handle)
    backbone = keras_hub.models.T5Backbone(**config_fields(hf_config))
    load_weights(backbone, read_tensors(directory))
    return backbone
