"""Freezes parts of a backbone: embeddings, a range of layers, or all of it.

Example:
    >>> freeze(backbone, "embeddings,layers:0-1")
    >>> freeze(backbone, "backbone")        # linear probe: only the head trains
"""
import math
import re


class FreezeError(ValueError):
    pass


def _transformer_layers(backbone):
    layers = getattr(backbone, "transformer_layers", None)
    if layers is None:
        raise FreezeError(f"{type(backbone).__name__} has no transformer_layers to freeze")
    return layers


def freeze(backbone, spec):
    """Sets `trainable = False` on the parts named by `spec` (comma list of
    `embeddings`, `layers:A-B` (inclusive), `backbone`)."""
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        if part == "backbone":
            backbone.trainable = False
        elif part == "embeddings":
            for layer in backbone.layers:
                if "embedding" in layer.name:
                    layer.trainable = False
        elif match := re.fullmatch(r"layers:(\d+)(?:-(\d+))?", part):
            layers = _transformer_layers(backbone)
            first, last = int(match[1]), int(match[2] or match[1])
            if not first <= last < len(layers):
                raise FreezeError(f"--freeze={part}: the backbone has layers 0-{len(layers) - 1}")
            for layer in layers[first:last + 1]:
                layer.trainable = False
        else:
            raise FreezeError(f"--freeze: unknown part '{part}'; use embeddings, "
                              "layers:A-B or backbone")


def count_parameters(model):
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    total = sum(math.prod(v.shape) for v in model.weights)
    return trainable, total
