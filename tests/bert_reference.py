"""A plain numpy BERT forward pass, written from a Hugging Face checkpoint's
safetensors tensors and config.json alone: the independent reference the zoo's
backbone and exports are checked against (it shares no code with keras-hub).

Example:
    >>> from safetensors.numpy import load_file
    >>> tensors = load_file("all-minilm-l6-v2/model.safetensors")
    >>> config = json.load(open("all-minilm-l6-v2/config.json"))
    >>> hidden = bert_hidden_states(tensors, config, ids, segments, mask)   # [batch, seq, 384]
    >>> mean_pooled(hidden, mask).shape
    (batch, 384)
"""
import math

import numpy as np


def _tensor(tensors, name):
    """A tensor by its name, with or without the `bert.` prefix of BertFor* models."""
    for key in (name, "bert." + name):
        if key in tensors:
            return tensors[key].astype(np.float64)
    raise KeyError(name)


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _gelu(x):
    """The exact (erf) GELU of BERT's `hidden_act: gelu`."""
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _dense(tensors, prefix, x):
    """x @ W.T + b with torch's [out, in] weight layout."""
    return x @ _tensor(tensors, prefix + ".weight").T + _tensor(tensors, prefix + ".bias")


def bert_hidden_states(tensors, config, token_ids, segment_ids, padding_mask):
    """Last hidden states [batch, seq, hidden] (float64) of a BERT checkpoint for
    int arrays [batch, seq]; padded positions (mask 0) are not attended to."""
    eps = config.get("layer_norm_eps", 1e-12)
    heads = config["num_attention_heads"]
    token_ids, segment_ids = np.asarray(token_ids), np.asarray(segment_ids)
    mask = np.asarray(padding_mask).astype(bool)
    positions = np.arange(token_ids.shape[1])
    x = (_tensor(tensors, "embeddings.word_embeddings.weight")[token_ids]
         + _tensor(tensors, "embeddings.position_embeddings.weight")[positions][None]
         + _tensor(tensors, "embeddings.token_type_embeddings.weight")[segment_ids])
    x = _layer_norm(x, _tensor(tensors, "embeddings.LayerNorm.weight"),
                    _tensor(tensors, "embeddings.LayerNorm.bias"), eps)
    batch, length, width = x.shape
    size = width // heads
    bias = np.where(mask, 0.0, -1e9)[:, None, None, :]  # [batch, 1, 1, key]
    for index in range(config["num_hidden_layers"]):
        layer = f"encoder.layer.{index}"

        def split(y):
            return y.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)
        q, k, v = (split(_dense(tensors, f"{layer}.attention.self.{name}", x))
                   for name in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = _layer_norm(x + _dense(tensors, f"{layer}.attention.output.dense", context),
                        _tensor(tensors, f"{layer}.attention.output.LayerNorm.weight"),
                        _tensor(tensors, f"{layer}.attention.output.LayerNorm.bias"), eps)
        inner = _gelu(_dense(tensors, f"{layer}.intermediate.dense", x))
        x = _layer_norm(x + _dense(tensors, f"{layer}.output.dense", inner),
                        _tensor(tensors, f"{layer}.output.LayerNorm.weight"),
                        _tensor(tensors, f"{layer}.output.LayerNorm.bias"), eps)
    return x


def mean_pooled(hidden, padding_mask, normalize=True):
    """sentence-transformers' mean pooling over unpadded tokens, L2-normalised."""
    mask = np.asarray(padding_mask, np.float64)[..., None]
    pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    if normalize:
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
    return pooled
