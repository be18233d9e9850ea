"""Discriminative learning rates per layer (--layer_lr_decay), as in ELECTRA and ULMFiT:
the head keeps the peak rate, the top transformer layer gets `decay` times it,
the one below `decay**2`, ..., layer 0 `decay**L`, and the embeddings
`decay**(L+1)`; lower layers, which hold general features, move least.

Example:
    >>> factors = layer_lr_factors(model, backbone, decay=0.8)
    >>> optimizer.scale_learning_rates(factors)
"""


class LayerDecayError(ValueError):
    pass


def layer_lr_factors(model, backbone, decay):
    """[(variable, learning-rate factor)] for the model's trainable variables that
    get a factor other than 1 (variables outside the backbone's embedding and
    transformer layers — the head, a pooler, a final norm — keep the peak rate)."""
    if not 0.0 < decay <= 1.0:
        raise LayerDecayError(f"--layer_lr_decay={decay}: must be in (0, 1]")
    layers = getattr(backbone, "transformer_layers", None)
    if layers is None:
        raise LayerDecayError(
            f"--layer_lr_decay needs a backbone with one stack of transformer layers; "
            f"{type(backbone).__name__} has none")
    depth = len(layers)
    factors = {}
    for index, layer in enumerate(layers):
        for variable in layer.trainable_variables:
            factors[id(variable)] = (variable, decay ** (depth - index))
    for layer in backbone.layers:
        if "embedding" in layer.name:
            for variable in layer.trainable_variables:
                factors[id(variable)] = (variable, decay ** (depth + 1))
    trainable = {id(v) for v in model.trainable_variables}
    return [(v, f) for key, (v, f) in factors.items() if key in trainable and f != 1.0]
